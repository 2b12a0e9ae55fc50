import type { McpServerConfig } from '../config/schema.js';

/** Where MCP clients connect over HTTP: `/mcp` (federated) and `/mcp/<server>`. */
export const MCP_HTTP_PATH = '/mcp';

/**
 * What can name a server in an MCP endpoint's path, `/mcp/<server>`: unreserved characters
 * (RFC 3986 §2.3), which need no decoding, at most 128 (config names are shorter slugs).
 */
export const SERVER_NAME_SEGMENT = '[A-Za-z0-9._~-]{1,128}';

/** The one scope MCP access tokens carry (the grants, not the token, say what it reaches). */
export const MCP_SCOPE = 'mcp';

/**
 * The protected resources (RFC 8707, RFC 9728) this broker serves: one canonical URL per
 * MCP endpoint. A token is bound to exactly one of them.
 */
export class McpResources {
  private readonly base: string;
  readonly federated: string;
  private readonly all: ReadonlySet<string>;

  constructor(publicUrl: string, servers: readonly Pick<McpServerConfig, 'name'>[]) {
    this.base = publicUrl.replace(/\/+$/, '');
    this.federated = `${this.base}${MCP_HTTP_PATH}`;
    this.all = new Set([this.federated, ...servers.map((s) => this.ofServer(s.name))]);
  }

  ofServer(server: string): string {
    return `${this.federated}/${server}`;
  }

  /**
   * The canonical form of a resource indicator, or null when it names none of ours. The
   * URL parser lower-cases scheme and host and drops a default port; a trailing slash names
   * the same resource (clients differ on it). RFC 8707 §2: no fragment; we take no query.
   */
  canonical(value: string): string | null {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return null;
    }
    if (url.hash !== '' || url.search !== '' || url.username !== '' || url.password !== '') return null;
    const canonical = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    return this.all.has(canonical) ? canonical : null;
  }

  /**
   * Does a token issued for `audience` count at `resource`? At that resource; and a token
   * for the federated endpoint at every server's own: `/mcp` reaches each server already,
   * so it grants nothing more there, and a client that omitted `resource` (which gets
   * `/mcp`) can use the endpoint it was sent from. Never the other way round.
   */
  covers(audience: string, resource: string): boolean {
    return audience === resource || (audience === this.federated && resource.startsWith(`${this.federated}/`) && this.all.has(resource));
  }

  /** The resource metadata URL of a resource (RFC 9728 §3.1: the well-known path inserted before the resource's path). */
  metadataUrl(resource: string): string {
    const url = new URL(resource);
    return `${url.origin}/.well-known/oauth-protected-resource${url.pathname}`;
  }

  /** Every resource, federated first. */
  list(): string[] {
    return [...this.all];
  }
}
