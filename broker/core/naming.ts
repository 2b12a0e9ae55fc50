/**
 * How a session names its servers' tools, prompts, resources and tasks to the client. A
 * single-server session shows them as they are. A federated one makes them unique across
 * servers: `<server>__<name>` for tools and prompts, `portcullis://<server>/<uri>` for
 * resource URIs and templates, `<server>__<taskId>` for tasks. Names come back through
 * registries filled as the broker hands them out (never by splitting the client's input);
 * URIs come back by matching the broker's own per-server prefixes, the only way a URI the
 * client expanded from a template can be traced (server names are slugs: no `/`, no `__`).
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

export function singleNaming(server: string): Naming {
  return {
    federated: false,
    out: (_kind, _server, name) => name,
    in: (_kind, name) => ({ server, name }),
    uriOut: (_server, uri) => uri,
    uriIn: (uri) => ({ server, name: uri }),
    missing: () => false,
    markMissing: () => null,
    listsChanged: () => {},
    forget: () => {},
  };
}

/** Names a registry keeps per kind; the oldest go first (a tool list is re-read on demand). */
const MAX_NAMES = 10_000;

export function federatedNaming(servers: () => Iterable<string>): Naming {
  const registries: Record<Kind, Map<string, Target>> = { tool: new Map(), prompt: new Map(), task: new Map() };
  const absent = new Set<string>();
  return {
    federated: true,
    out: (kind, server, name) => {
      const outside = `${server}${NAMESPACE_SEPARATOR}${name}`;
      const registry = registries[kind];
      registry.delete(outside);
      registry.set(outside, { server, name });
      if (registry.size > MAX_NAMES) registry.delete(registry.keys().next().value!);
      return outside;
    },
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
