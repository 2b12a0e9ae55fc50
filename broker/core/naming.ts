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
  /** A server left the session: its names resolve no more. */
  forget(server: string): void;
}

export const NAMESPACE_SEPARATOR = '__';
const URI_SCHEME = 'portcullis://';

export function singleNaming(server: string): Naming {
  return {
    federated: false,
    out: (_kind, _server, name) => name,
    in: (_kind, name) => ({ server, name }),
    uriOut: (_server, uri) => uri,
    uriIn: (uri) => ({ server, name: uri }),
    forget: () => {},
  };
}

export function federatedNaming(servers: () => Iterable<string>): Naming {
  const registries: Record<Kind, Map<string, Target>> = { tool: new Map(), prompt: new Map(), task: new Map() };
  return {
    federated: true,
    out: (kind, server, name) => {
      const outside = `${server}${NAMESPACE_SEPARATOR}${name}`;
      registries[kind].set(outside, { server, name });
      return outside;
    },
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
