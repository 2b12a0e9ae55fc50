import type { PortcullisConfig } from './schema.js';

const HIDDEN = '[REDACTED]';

/**
 * The configuration as it may be logged: every value that can carry a credential
 * (upstream env and headers, the Redis URL's password, the audit signing key) replaced, whether it came from a
 * reference or was written literally. Value scrubbing in the logger is a second layer.
 */
export function redactConfig(config: PortcullisConfig): unknown {
  const hideValues = (record: Record<string, string>) => Object.fromEntries(Object.keys(record).map((key) => [key, HIDDEN]));
  return {
    ...config,
    store: config.store.redis ? { ...config.store, redis: { ...config.store.redis, url: withoutPassword(config.store.redis.url) } } : config.store,
    audit: config.audit.checkpoints ? { ...config.audit, checkpoints: { ...config.audit.checkpoints, privateKey: HIDDEN } } : config.audit,
    servers: config.servers.map((server) =>
      server.transport === 'stdio' ? { ...server, env: hideValues(server.env) } : { ...server, headers: hideValues(server.headers) },
    ),
  };
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = HIDDEN;
  return parsed.toString();
}
