import { credentialKeyRule } from '../audit/redact.js';
import type { ExportSinkConfig } from '../export/export-config.js';
import type { NotificationSinkConfig, PortcullisConfig } from './schema.js';

const HIDDEN = '[REDACTED]';

/**
 * The configuration as it may be logged: every value that can carry a credential
 * (upstream env and headers and the query of an upstream's URL, the trace exporter's headers, the Redis passwords (in the URL, of the data nodes, of the Sentinels), the audit signing key, export sinks' tokens, headers and client keys,
 * the SAML SP's private keys, OIDC client secrets, notification sink secrets and webhook URLs' paths) replaced,
 * whether it came from a reference or was written literally. Value scrubbing in the logger is a second layer.
 */
export function redactConfig(config: PortcullisConfig): unknown {
  const hideValues = (record: Record<string, string>) => Object.fromEntries(Object.keys(record).map((key) => [key, HIDDEN]));
  return {
    ...config,
    store: config.store.redis ? { ...config.store, redis: redactRedis(config.store.redis) } : config.store,
    audit: {
      ...config.audit,
      ...(config.audit.checkpoints ? { checkpoints: { ...config.audit.checkpoints, privateKey: HIDDEN } } : {}),
      export: { sinks: config.audit.export.sinks.map((sink) => withExportSecrets(sink, () => HIDDEN)) },
    },
    saml: { ...config.saml, serviceProvider: { ...config.saml.serviceProvider, keys: config.saml.serviceProvider.keys.map((key) => ({ ...key, privateKey: HIDDEN })) } },
    servers: config.servers.map((server) =>
      server.transport === 'stdio' ? { ...server, env: hideValues(server.env) } : { ...server, url: withHiddenQuery(server.url), headers: hideValues(server.headers) },
    ),
    identityProviders: config.identityProviders.map((idp) => {
      const scim = idp.scim ? { scim: { ...idp.scim, token: HIDDEN } } : {};
      return idp.type === 'oidc' && idp.clientSecret !== undefined ? { ...idp, ...scim, clientSecret: HIDDEN } : { ...idp, ...scim };
    }),
    notifications: { ...config.notifications, sinks: config.notifications.sinks.map((sink) => withSinkSecrets(sink, () => HIDDEN)) },
    observability: { ...config.observability, tracing: { ...config.observability.tracing, headers: hideValues(config.observability.tracing.headers) } },
  };
}

/**
 * Credentials written literally in the file rather than as references: upstream env,
 * header and URL query values (and the trace exporter's headers) under a key that names a credential (the audit redaction rule), the
 * Redis password, the audit signing key, the SAML SP's private keys, SCIM tokens and the secrets of notification and export sinks. The logger scrubs them by value like resolved references, for an
 * upstream that echoes one back in an error or on stderr.
 */
export function literalCredentials(config: PortcullisConfig): string[] {
  const isCredential = credentialKeyRule(config.audit.redactKeys);
  const values = [...config.servers.flatMap((server) => Object.entries(server.transport === 'stdio' ? server.env : server.headers)), ...Object.entries(config.observability.tracing.headers)];
  // A hosted MCP server may take its key in the URL's query (`?api_key=...`).
  const queries = config.servers.flatMap((server) => (server.transport === 'stdio' ? [] : [...new URL(server.url).searchParams]));
  const credentials = [...values, ...queries].filter(([key, value]) => isCredential(key) && !isSetting(value)).flatMap(([, value]) => [value, ...withoutScheme(value)]);
  const idpSecrets = config.identityProviders.flatMap((idp) => [...(idp.type === 'oidc' && idp.clientSecret !== undefined ? [idp.clientSecret] : []), ...(idp.scim ? [idp.scim.token] : [])]);
  return [...credentials, ...(config.store.redis ? redisSecrets(config.store.redis) : []), ...(config.audit.checkpoints ? [config.audit.checkpoints.privateKey] : []), ...config.saml.serviceProvider.keys.map((key) => key.privateKey), ...idpSecrets, ...config.notifications.sinks.flatMap((sink) => secretsOf(sink, withSinkSecrets)), ...config.audit.export.sinks.flatMap((sink) => secretsOf(sink, withExportSecrets))];
}

/**
 * A value that is a switch or a file system path, under a key the credential rule matches
 * (`USE_AUTH: "true"`, `PWD: "/app"`): scrubbed from every log line, it would blank every
 * `true` and every path under it, and it keeps no secret.
 */
function isSetting(value: string): boolean {
  return /^(true|false|yes|no|on|off|enabled|disabled)$/i.test(value) || value.startsWith('/');
}

/** A sink with each credential it holds replaced by `as` (a new sink type adds its own case here). */
function withSinkSecrets(sink: NotificationSinkConfig, as: (value: string) => string): NotificationSinkConfig {
  switch (sink.type) {
    case 'webhook':
      return { ...sink, url: withSecretPath(sink.url, as), secret: as(sink.secret) };
    case 'email':
      return sink.smtp.auth ? { ...sink, smtp: { ...sink.smtp, auth: { ...sink.smtp.auth, pass: as(sink.smtp.auth.pass) } } } : sink;
    case 'slack':
      return { ...sink, ...(sink.webhookUrl === undefined ? {} : { webhookUrl: as(sink.webhookUrl) }), ...(sink.botToken === undefined ? {} : { botToken: as(sink.botToken) }), ...(sink.signingSecret === undefined ? {} : { signingSecret: as(sink.signingSecret) }) };
  }
}

/** An export sink with its HEC token, OTLP header values and TLS client key replaced by `as`. */
function withExportSecrets(sink: ExportSinkConfig, as: (value: string) => string): ExportSinkConfig {
  const tls = sink.type === 'file' || sink.tls.clientKey === undefined ? {} : { tls: { ...sink.tls, clientKey: as(sink.tls.clientKey) } };
  switch (sink.type) {
    case 'splunk-hec':
      return { ...sink, ...tls, token: as(sink.token) };
    case 'otlp':
      return { ...sink, ...tls, headers: Object.fromEntries(Object.entries(sink.headers).map(([name, value]) => [name, as(value)])) };
    case 'syslog':
    case 'file':
      return { ...sink, ...tls };
  }
}

/**
 * A webhook URL with its path and query replaced: receivers (Teams, Discord, Zapier) often
 * take a bearer token there. The host stays, to tell which receiver it is.
 */
function withSecretPath(url: string, as: (value: string) => string): string {
  const parsed = new URL(url);
  const rest = `${parsed.pathname}${parsed.search}${parsed.hash}`.slice(1);
  return rest === '' ? url : `${parsed.origin}/${as(rest)}`;
}

/** The values `withSecrets` would replace, each with its scheme-less form (`Splunk abc` also as `abc`). */
function secretsOf<S>(sink: S, withSecrets: (sink: S, as: (value: string) => string) => S): string[] {
  const found: string[] = [];
  withSecrets(sink, (value) => (found.push(value, ...withoutScheme(value)), value));
  return found;
}

/** `Bearer abc` also as `abc`: an upstream may echo the token without its scheme. */
function withoutScheme(value: string): string[] {
  const match = /^[A-Za-z][\w-]*\s+(\S+)$/.exec(value);
  return match ? [match[1]!] : [];
}

type RedisConfig = NonNullable<PortcullisConfig['store']['redis']>;

function redactRedis(redis: RedisConfig): RedisConfig {
  return {
    ...redis,
    ...(redis.url === undefined ? {} : { url: withoutPassword(redis.url) }),
    ...(redis.password === undefined ? {} : { password: HIDDEN }),
    ...(redis.sentinelPassword === undefined ? {} : { sentinelPassword: HIDDEN }),
  };
}

/** The Redis passwords: the data nodes' (in the URL or on its own) and the Sentinels'. */
function redisSecrets(redis: RedisConfig): string[] {
  return [...(redis.url === undefined ? [] : passwordForms(redis.url)), ...[redis.password, redis.sentinelPassword].filter((value) => value !== undefined)];
}

/** A URL's password as written (percent-encoded) and as sent. */
function passwordForms(url: string): string[] {
  try {
    const encoded = new URL(url).password;
    return encoded ? [encoded, decodeURIComponent(encoded)] : [];
  } catch {
    return [];
  }
}

/** Every query value hidden: which of them is a key, only the server knows. */
function withHiddenQuery(url: string): string {
  const parsed = new URL(url);
  for (const key of new Set(parsed.searchParams.keys())) parsed.searchParams.set(key, HIDDEN);
  return parsed.toString();
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = HIDDEN;
  return parsed.toString();
}
