/**
 * How a session names its servers' tools, prompts, resources and tasks to the client. A
 * single-server session shows them as they are. A federated one makes them unique across
 * servers: `<server>__<name>` for tools and prompts, `portcullis://<server>/<uri>` for
 * resource URIs and templates, `<server>__<taskId>` for tasks. Names come back through
 * registries filled as the broker hands them out (never by splitting the client's input);
 * URIs come back by matching the broker's own per-server prefixes, the only way a URI the
 * client expanded from a template can be traced (server names are slugs: no `/`, no `__`).
 *
 * Tasks are the session's own in either kind: only a task a server created for this session
 * (a result of a request it sent carried it, and `out` recorded it) can be named, listed or
 * reported on. A server that keeps one task store for all its clients (a stateless HTTP
 * server, one credential for every user) would otherwise hand one person's tasks to another.
 */
export interface Target {
  server: string;
  name: string;
}

export type Kind = 'tool' | 'prompt' | 'task';

export interface Naming {
  readonly federated: boolean;
  out(kind: Kind, server: string, name: string): string;
  /** The server and original name behind a client-side name, or null when unknown. */
  in(kind: Kind, name: string): Target | null;
  /** Whether `out` handed out this server's name to the client (for tasks: the server created it for this session). */
  has(kind: Kind, server: string, name: string): boolean;
  uriOut(server: string, uri: string): string;
  uriIn(uri: string): Target | null;
  /**
   * Whether a lookup of this name found nothing since the servers' lists last changed: a
   * client repeating an unknown name must not make the broker list every server each time.
   */
  missing(kind: Kind, name: string): boolean;
  /** Remembers a name no server has (returns null, the lookup's answer). */
  markMissing(kind: Kind, name: string): null;
  /** A server's lists changed: names it lacked may exist now. */
  listsChanged(): void;
  /** A server left the session: its names resolve no more. */
  forget(server: string): void;
}

const NAMESPACE_SEPARATOR = '__';
const URI_SCHEME = 'portcullis://';

/** Names a registry keeps per kind; the oldest go first (a tool list is re-read on demand; a session's 10,000th task makes its first unreachable). */
const MAX_NAMES = 10_000;

/** Adds (or refreshes) a registry's entry, the oldest going first past MAX_NAMES. */
function remember(registry: Map<string, Target>, key: string, target: Target): void {
  registry.delete(key);
  registry.set(key, target);
  if (registry.size > MAX_NAMES) registry.delete(registry.keys().next().value!);
}

export function singleNaming(server: string): Naming {
  // Tools, prompts and URIs pass as they are; tasks only once created here.
  const tasks = new Map<string, Target>();
  return {
    federated: false,
    out: (kind, _server, name) => {
      if (kind === 'task') remember(tasks, name, { server, name });
      return name;
    },
    in: (kind, name) => (kind === 'task' ? (tasks.get(name) ?? null) : { server, name }),
    has: (kind, _server, name) => kind !== 'task' || tasks.has(name),
    uriOut: (_server, uri) => uri,
    uriIn: (uri) => ({ server, name: uri }),
    missing: () => false,
    markMissing: () => null,
    listsChanged: () => {},
    forget: () => {},
  };
}

export function federatedNaming(servers: () => Iterable<string>): Naming {
  const registries: Record<Kind, Map<string, Target>> = { tool: new Map(), prompt: new Map(), task: new Map() };
  const absent = new Set<string>();
  return {
    federated: true,
    out: (kind, server, name) => {
      const outside = `${server}${NAMESPACE_SEPARATOR}${name}`;
      remember(registries[kind], outside, { server, name });
      return outside;
    },
    has: (kind, server, name) => registries[kind].has(`${server}${NAMESPACE_SEPARATOR}${name}`),
    missing: (kind, name) => absent.has(`${kind}:${name}`),
    markMissing: (kind, name) => {
      if (absent.size >= MAX_NAMES) absent.clear();
      absent.add(`${kind}:${name}`);
      return null;
    },
    listsChanged: () => absent.clear(),
    in: (kind, name) => registries[kind].get(name) ?? null,
    uriOut: (server, uri) => `${URI_SCHEME}${server}/${uri}`,
    uriIn: (uri) => {
      for (const server of servers()) {
        const prefix = `${URI_SCHEME}${server}/`;
        if (uri.startsWith(prefix)) return { server, name: uri.slice(prefix.length) };
      }
      return null;
    },
    forget: (server) => {
      for (const registry of Object.values(registries)) for (const [outside, target] of registry) if (target.server === server) registry.delete(outside);
    },
  };
}
