import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { argumentSchemaProblem } from '../access/argument-rules.js';
import { isToolName } from '../access/tool-patterns.js';
import { isIP } from 'node:net';
import { isLoopbackHost } from '../http/loopback-host.js';
import { isLauncherScheme } from '../oauth/redirect-schemes.js';
import { numeric, pemCertificate, positiveInt, slug, text } from './fields.js';
import { emailSinkConfig } from '../notifications/email-config.js';
import { sinkName } from '../notifications/sink-config.js';
import { checkSlackSink, slackSinkConfig } from '../notifications/slack-config.js';
import { z } from 'zod';
import { RULE_IDS } from '../detection/types.js';
import { domainOf, EMAIL_DOMAIN_PATTERN, patternsOverlap } from '../identity/email-domains.js';
import { DEFAULT_CHECKPOINT_INTERVAL_SECONDS } from '../audit/checkpoints.js';
import { ed25519Key } from '../audit/seal.js';
import { AUDIT_EVENT_TYPES } from '../audit/event-types.js';
import type { AuditEventType } from '../audit/event-types.js';
import { safeReturnTo } from '../http/return-to.js';
import { auditExportSection } from '../export/export-config.js';

/**
 * The configuration file's shape. Every key is documented in docs/configuration.md;
 * messages here are what an operator reads, so they say what was expected.
 */

const nonNegativeInt = (max: number) =>
  numeric(
    z
      .number({ error: 'expected a non-negative integer' })
      .int('expected a non-negative integer')
      .min(0, 'expected a non-negative integer')
      .max(max, `expected at most ${max}`),
  );

const httpUrl = text('an http(s) URL').refine((v) => {
  try {
    const url = new URL(v);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}, 'expected an http(s) URL without credentials');

/**
 * A tool name pattern: MCP tool-name characters (2025-11-25 spec: A-Z a-z 0-9 _ - .,
 * 1-128 long) plus `*` as a wildcard. Anything else could never match a real tool and is
 * almost certainly a typo that would silently grant or deny the wrong thing.
 */
const toolPattern = z
  .string({ error: 'expected a tool name pattern' })
  .regex(/^[A-Za-z0-9_.*-]{1,128}$/, 'expected a tool name pattern: letters, digits, "_", "-", "." and "*" wildcards, 1-128 characters');

/** A tool's own name (no wildcard): what read-only lists, argument rules and per-tool limits name. */
const TOOL_NAME_RULE = 'expected a tool name: letters, digits, "_", "-" and ".", 1-128 characters';
const toolName = z.string({ error: 'expected a tool name' }).refine(isToolName, TOOL_NAME_RULE);

/** A resource URI pattern, `*` matching any run of characters (`file:///srv/docs/*`). */
const resourcePattern = z
  .string({ error: 'expected a resource URI pattern' })
  .regex(/^[\x21-\x7e]{1,2048}$/, 'expected a resource URI pattern: printable characters without spaces, "*" as a wildcard, 1-2048 characters');

/** A prompt name pattern (MCP leaves prompt names free: printable, no spaces here). */
const promptPattern = z
  .string({ error: 'expected a prompt name pattern' })
  .regex(/^[\x21-\x7e]{1,128}$/, 'expected a prompt name pattern: printable characters without spaces, "*" as a wildcard, 1-128 characters');

/** Per tool, the JSON Schema its arguments must satisfy; each compiled here, so a broken rule stops the start. */
const argumentRules = z.record(z.string(), z.record(z.string(), z.unknown())).superRefine((rules, ctx) => {
  for (const [tool, schema] of Object.entries(rules)) {
    const problem = isToolName(tool) ? argumentSchemaProblem(schema) : TOOL_NAME_RULE;
    if (problem) ctx.addIssue({ code: 'custom', path: [tool], message: problem });
  }
});

/** The key that seals audit checkpoints; its message never echoes the PEM (a secret). */
const ed25519PrivateKey = text('a PEM Ed25519 private key').superRefine((pem, ctx) => {
  try {
    ed25519Key(pem, 'private');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

const httpsUrl = httpUrl.refine((v) => v.startsWith('https:'), 'expected an https URL');

/** An IP address or CIDR block; /0 is refused: trusting every address lets any client pick its own. */
const ipOrCidr = text('an IP address or CIDR block').refine((v) => {
  const [address = '', prefix, ...rest] = v.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= (version === 4 ? 32 : 128);
}, 'expected an IP address or CIDR block (such as 10.0.0.0/8), prefix /1 or longer');

/** A browser origin as sent in `Origin`: scheme, host and port only. */
const origin = text('an origin such as https://app.example.com').refine((v) => {
  try {
    return new URL(v).origin === v;
  } catch {
    return false;
  }
}, 'expected an origin: scheme, host and optional port, with no path or trailing slash (https://app.example.com)');

const serverSection = z.strictObject({
  host: text('a host name or address').default('127.0.0.1'),
  port: numeric(z.number({ error: 'expected a port number' }).int().min(0, 'expected a port number').max(65535, 'expected a port number')).default(8080),
  publicUrl: httpUrl,
  // The proxies whose X-Forwarded-For is believed (express "trust proxy"); none by default,
  // so the client address is the socket's and cannot be chosen by the client.
  trustedProxies: z.array(ipOrCidr).default([]),
  // Browser origins besides publicUrl's that may call the MCP HTTP endpoints (DNS rebinding:
  // a page on another origin must not reach a broker listening on a private address).
  allowedOrigins: z.array(origin).default([]),
});

/**
 * The SP's key: RSA, since it signs with RSA-SHA256 and unwraps assertion keys with
 * RSA-OAEP (the only key transport accepted), and 2048 bits or more (NIST SP 800-131A).
 * Messages never echo the PEM (a secret).
 */
const rsaPrivateKey = text('a PEM private key').superRefine((pem, ctx) => {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    return void ctx.addIssue({ code: 'custom', message: 'expected a PEM-encoded private key (unencrypted PKCS#8 or PKCS#1)' });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < 2048)
    ctx.addIssue({ code: 'custom', message: `expected an RSA private key of at least 2048 bits (the SP signs with RSA-SHA256 and decrypts with RSA-OAEP), got ${key.asymmetricKeyType === 'rsa' ? `RSA ${bits} bits` : key.asymmetricKeyType}` });
});

/** A key pair whose certificate is not the private key's would sign what nobody can verify. */
function keyMatchesCertificate(pair: { privateKey: string; certificate: string }): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(pair.privateKey)).export({ type: 'spki', format: 'der' });
    const fromCert = new X509Certificate(pair.certificate).publicKey.export({ type: 'spki', format: 'der' });
    return fromKey.equals(fromCert);
  } catch {
    return true; // the fields' own checks name what is wrong
  }
}

const samlSection = z
  .strictObject({
    serviceProvider: z
      .strictObject({
        // The first key signs what the SP sends (AuthnRequest, LogoutRequest/Response); every
        // key decrypts and is published in the metadata. Rolling a key: add the new one second,
        // let the IdPs read the metadata, move it first, later remove the old one.
        keys: z
          .array(
            z
              .strictObject({ privateKey: rsaPrivateKey, certificate: pemCertificate })
              .refine(keyMatchesCertificate, { message: 'the certificate is not the private key\'s', path: ['certificate'] }),
          )
          .max(4, 'expected at most 4 keys (the current one and those being rolled in or out)')
          .default([]),
      })
      .default({ keys: [] }),
  })
  .default({ serviceProvider: { keys: [] } });

const redisNode = z.strictObject({ host: text('a host name or address'), port: positiveInt(65_535) });

/** Where Redis is (one of three topologies) and how the broker uses it. */
const redisSection = z
  .strictObject({
    // ioredis reads a query as options, a password among them, which no log redaction would look for there.
    url: text('a redis:// or rediss:// URL')
      .refine((v) => /^rediss?:\/\//.test(v), 'expected a redis:// or rediss:// URL')
      .refine((v) => !/[?#]/.test(v), 'expected no query in the URL: give a password as its user info (redis://:PASSWORD@host), other settings under store.redis')
      .optional(),
    sentinels: z.array(redisNode).min(1, 'expected at least one Sentinel').optional(),
    name: text("the primary's name as the Sentinels know it").optional(),
    nodes: z.array(redisNode).min(1, 'expected at least one Cluster node').optional(),
    username: text('an ACL user name').optional(),
    password: text('a password').optional(),
    sentinelUsername: text('an ACL user name').optional(),
    sentinelPassword: text('a password').optional(),
    tls: z.boolean().default(false),
    // A private CA for Redis alone: NODE_EXTRA_CA_CERTS would trust it for every outbound https call too.
    ca: pemCertificate.optional(),
    keyPrefix: z.string().max(64, 'expected at most 64 characters').regex(/^[^{}]*$/, 'may not contain { or } (Redis would hash every key by it: one Cluster slot for everything)').default('portcullis:'),
    // Bounded wait: a command that cannot complete in this time fails (fail closed).
    commandTimeoutMs: positiveInt(60_000).default(2_000),
    connectTimeoutMs: positiveInt(60_000).default(5_000),
    // An audit append resolves only once this many replicas hold it (WAIT), or fails closed.
    durability: z.strictObject({ replicas: positiveInt(16), timeoutMs: positiveInt(60_000).default(1_000) }).optional(),
  })
  .superRefine((redis, ctx) => {
    const given = (['url', 'sentinels', 'nodes'] as const).filter((key) => redis[key] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: `expected exactly one of url, sentinels (with name) or nodes (a Cluster)${given.length > 1 ? `, not ${given.join(' and ')}` : ''}` });
    if (redis.sentinels && redis.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: "expected the primary's name as the Sentinels know it (sentinel monitor <name> ...)" });
    if (!redis.sentinels) {
      for (const key of ['name', 'sentinelUsername', 'sentinelPassword'] as const) {
        if (redis[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'only with sentinels' });
      }
    }
    if (redis.url !== undefined) {
      for (const key of ['username', 'password', 'tls'] as const) {
        if (key === 'tls' ? redis.tls : redis[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'with url, put it in the URL (redis://user:password@host, rediss:// for TLS)' });
      }
    }
    if (redis.ca !== undefined && !redis.tls && !redis.url?.startsWith('rediss://')) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: 'only with TLS (tls: true, or a rediss:// URL)' });
    }
    // ioredis would time the WAIT out as a failed command first, whatever the replicas did.
    if (redis.durability && redis.durability.timeoutMs >= redis.commandTimeoutMs) {
      ctx.addIssue({ code: 'custom', path: ['durability', 'timeoutMs'], message: `expected less than commandTimeoutMs (${redis.commandTimeoutMs})` });
    }
  });

const storeSection = z
  .strictObject({
    redis: redisSection.optional(),
    dataDir: text('a directory path').default('./data'),
  })
  .default({ dataDir: './data' });

const emailDomainList = z
  .array(
    z
      .string({ error: 'expected an email domain' })
      .trim()
      .toLowerCase()
      .regex(EMAIL_DOMAIN_PATTERN, 'expected an email domain such as "example.com", or "*.example.com" for its subdomains'),
  )
  .min(1, 'expected at least one email domain')
  .optional();

/** What a SCIM bearer token may hold (server/scim/scim-clients.ts): printable ASCII, no space. */
export const SCIM_TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;

// SCIM 2.0 provisioning (docs/scim.md); absent: off for this IdP. The token is the IdP's
// SCIM client's bearer credential and names the IdP: it sees and changes only its users.
const scimProvisioning = z
  .strictObject({
    token: z
      .string({ error: 'expected a bearer token (use ${env:NAME} or ${file:PATH})' })
      .trim()
      .min(32, 'expected at least 32 characters: a guessable token would let anyone deprovision users')
      // Anything else could never be presented in an Authorization header: the token would match no request.
      .regex(SCIM_TOKEN_CHARACTERS, 'expected printable ASCII characters without spaces (what a bearer token can carry)'),
  })
  .optional();

const samlIdentityProvider = z.strictObject({
  id: slug('an IdP id'),
  type: z.literal('saml'),
  displayName: text().optional(),
  // With metadataUrl these three come from the IdP's metadata (idpIssuer, if given, must match it).
  entryPoint: httpUrl.optional(),
  idpIssuer: text('the IdP entity id').optional(),
  idpCert: z.union([pemCertificate, z.array(pemCertificate).min(1, 'expected at least one certificate')]).optional(),
  spEntityId: text('the SP entity id (audience)'),
  // Required beside other IdPs (checked below): one email domain, one IdP.
  emailDomains: emailDomainList,
  attributes: z
    .strictObject({
      email: text('a SAML attribute name').default('email'),
      displayName: text('a SAML attribute name').optional(),
      groups: text('a SAML attribute name').optional(),
    })
    .default({ email: 'email' }),
  // Bounded on purpose: a large skew widens the replay window of every assertion.
  clockSkewSeconds: nonNegativeInt(300).default(60),
  requireEncryptedAssertions: z.boolean().default(false),
  // The IdP's signature must be on the assertion itself, not only on the Response around it
  // (both cover the assertion; some IdPs, Keycloak by default, sign only the Response).
  requireSignedAssertions: z.boolean({ error: 'expected true or false' }).default(false),
  metadataUrl: httpsUrl.optional(),
  metadataRefreshMinutes: positiveInt(1440).refine((v) => v >= 5, 'expected at least 5 (minutes)').default(60),
  metadataCa: pemCertificate.optional(),
  // Tests and lab setups only: the metadata host may resolve to loopback or a private network.
  metadataAllowPrivateNetwork: z.boolean().default(false),
  scim: scimProvisioning,
  // The IdP's SingleLogoutService; offered only with an SP key to sign with (checked below).
  singleLogoutUrl: httpUrl.optional(),
  // Off by default: an unsolicited response is what login CSRF and replay use.
  idpInitiatedSignIn: z
    .strictObject({
      enabled: z.boolean({ error: 'expected true or false' }).default(false),
      maxAgeSeconds: numeric(z.number({ error: 'expected an integer from 10 to 300' }).int('expected an integer from 10 to 300').min(10, 'expected at least 10').max(300, 'expected at most 300')).default(60),
      returnTo: text('a path on this server').refine((v) => safeReturnTo(v) === v, 'expected a path on this server, such as "/"').default('/'),
    })
    .default({ enabled: false, maxAgeSeconds: 60, returnTo: '/' }),
}).superRefine((idp, ctx) => {
  if (idp.metadataUrl !== undefined) {
    for (const key of ['entryPoint', 'idpCert'] as const) {
      if (idp[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `give either metadataUrl or ${key}, not both (the metadata names it)` });
    }
    return;
  }
  for (const key of ['entryPoint', 'idpIssuer', 'idpCert'] as const) {
    if (idp[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `expected ${key} (or metadataUrl)` });
  }
});

/**
 * An OpenID Provider's issuer. http only on a loopback address (a provider on this very
 * machine, in development and tests): anywhere else the discovery document, the JWKS and
 * the token exchange would travel unauthenticated.
 */
const oidcIssuer = text('the OpenID Provider\'s issuer URL').refine((v) => {
  try {
    const url = new URL(v);
    const plainAllowed = url.protocol === 'http:' && isLoopbackHost(url.hostname);
    return (url.protocol === 'https:' || plainAllowed) && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}, 'expected an https URL without credentials, query or fragment (http only on a loopback address)');

/** OAuth 2.0 scope tokens (RFC 6749 §3.3). */
const scopeToken = z.string({ error: 'expected a scope' }).regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'expected a scope: printable characters without spaces, quotes or backslashes');
const OIDC_CLAIMS = { email: 'email', displayName: 'name' };

/** An OpenID Connect IdP: authorization code flow with PKCE, identity from the validated ID token (server/oidc). */
const oidcIdentityProvider = z.strictObject({
  id: slug('an IdP id'),
  type: z.literal('oidc'),
  displayName: text().optional(),
  issuer: oidcIssuer,
  clientId: text('the client id registered at the provider'),
  // A reference (${env:...} or ${file:...}); absent for a public client, which PKCE alone protects.
  clientSecret: text('a client secret').optional(),
  scopes: z
    .array(scopeToken)
    .refine((scopes) => scopes.includes('openid'), 'expected the "openid" scope among the scopes (without it no ID token is issued)')
    .default(['openid', 'email', 'profile']),
  claims: z
    .strictObject({
      email: text('an ID token claim name').default(OIDC_CLAIMS.email),
      displayName: text('an ID token claim name').default(OIDC_CLAIMS.displayName),
      groups: text('an ID token claim name').optional(),
    })
    .default(OIDC_CLAIMS),
  // Required beside other IdPs (checked below): one email domain, one IdP.
  emailDomains: emailDomainList,
  // An unverified address is whatever the person typed at the provider: refused unless the operator says otherwise.
  requireVerifiedEmail: z.boolean({ error: 'expected true or false' }).default(true),
  scim: scimProvisioning,
  clockSkewSeconds: nonNegativeInt(300).default(60),
}).refine((idp) => !idp.requireVerifiedEmail || idp.claims.email === OIDC_CLAIMS.email, {
  // `email_verified` speaks of the `email` claim only: checked beside another claim, it would vouch for what it never looked at.
  path: ['requireVerifiedEmail'],
  message: 'email_verified vouches for the "email" claim only: with claims.email naming another claim, set requireVerifiedEmail: false to say that claim is one the provider controls (an administrator, not the user, sets it)',
});

/** Entries written before OIDC existed have no `type`: they are SAML, and load unchanged. */
const identityProvider = z.preprocess(
  (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && !('type' in v) ? { ...v, type: 'saml' } : v),
  z.discriminatedUnion('type', [samlIdentityProvider, oidcIdentityProvider], { error: 'expected type "saml" (the default) or "oidc"' }),
);

/** A rule names at least one thing: a rule that allows nothing is a mistake. */
const namesSomething = (rule: { tools: string[]; resources: string[]; prompts: string[] }) => rule.tools.length + rule.resources.length + rule.prompts.length > 0;
const NAMES_NOTHING = 'expected at least one pattern in tools, resources or prompts';

const requestRule = z
  .strictObject({
    server: slug('a server name'),
    tools: z.array(toolPattern).default([]),
    denyTools: z.array(toolPattern).default([]),
    // Resources and prompts are allowed only where a rule names them (none by default).
    resources: z.array(resourcePattern).default([]),
    denyResources: z.array(resourcePattern).default([]),
    prompts: z.array(promptPattern).default([]),
    denyPrompts: z.array(promptPattern).default([]),
    readOnly: z.boolean({ error: 'expected true or false' }).default(false),
    arguments: argumentRules.default({}),
    maxDurationSeconds: positiveInt(),
    autoApprove: z.boolean({ error: 'expected true or false' }).default(false),
  })
  .refine(namesSomething, NAMES_NOTHING);

const reviewRule = z
  .strictObject({
    server: slug('a server name'),
    tools: z.array(toolPattern).default([]),
    resources: z.array(resourcePattern).default([]),
    prompts: z.array(promptPattern).default([]),
  })
  .refine(namesSomething, NAMES_NOTHING);

const role = z.strictObject({
  name: text('a role name'),
  members: z
    .strictObject({
      groups: z.array(text('a group name')).default([]),
      emails: z.array(z.email({ error: 'expected an email address' })).default([]),
      // Absent: whichever IdP signed the user in. Checked below to name known IdPs.
      idps: z.array(slug('an IdP id')).min(1, 'expected at least one IdP id').optional(),
    })
    .refine((m) => m.groups.length + m.emails.length > 0, 'expected at least one group or email'),
  request: z.array(requestRule).default([]),
  review: z.array(reviewRule).default([]),
  audit: z.boolean({ error: 'expected true or false' }).default(false),
});

/** A YAML mapping as a Map: a tool named `__proto__` would silently vanish from a plain object. */
const mappingOf = <V extends z.ZodType>(key: z.ZodString, value: V, what: string) =>
  z.preprocess(
    (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? new Map(Object.entries(v)) : v),
    z.map(key, value, { error: `expected a mapping of ${what}` }),
  );

/** What one user may do with tool calls: calls per window and/or calls in flight at once. */
const callLimitShape = {
  calls: positiveInt(1_000_000).optional(),
  windowSeconds: positiveInt(86_400).optional(),
  concurrent: positiveInt(10_000).optional(),
};

const checkWindow = (limit: { calls?: number; windowSeconds?: number }, ctx: z.RefinementCtx) => {
  if (limit.calls !== undefined && limit.windowSeconds === undefined) ctx.addIssue({ code: 'custom', path: ['windowSeconds'], message: 'expected windowSeconds beside calls (calls per how many seconds)' });
  if (limit.calls === undefined && limit.windowSeconds !== undefined) ctx.addIssue({ code: 'custom', path: ['calls'], message: 'expected calls beside windowSeconds (how many calls per window)' });
};

const toolRateLimits = z.strictObject(callLimitShape).superRefine((limit, ctx) => {
  if (limit.calls === undefined && limit.windowSeconds === undefined && limit.concurrent === undefined) ctx.addIssue({ code: 'custom', message: 'expected calls with windowSeconds, and/or concurrent' });
  checkWindow(limit, ctx);
});

/** Per user, on one server: counted across every instance sharing the store (server/limits/call-limits.ts). */
const serverRateLimits = z.strictObject({ ...callLimitShape, tools: mappingOf(toolName, toolRateLimits, 'tool names to limits').optional() }).superRefine((limit, ctx) => {
  if (limit.calls === undefined && limit.windowSeconds === undefined && limit.concurrent === undefined && limit.tools === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected calls with windowSeconds, concurrent, and/or tools' });
  }
  checkWindow(limit, ctx);
});

/** What an operator says of a server beyond how to reach it. */
const serverPolicy = {
  // Annotations are hints from the upstream: tools the operator vouches are read-only.
  readOnlyTools: z.array(toolName).default([]),
  // Methods outside MCP's own that grants on this server may use (refused otherwise).
  allowMethods: z.array(z.string().regex(/^[A-Za-z0-9_./-]{1,128}$/, 'expected a JSON-RPC method name')).default([]),
  rateLimits: serverRateLimits.optional(),
  // A tool whose definition changes after it was first seen: hidden and refused until accepted (pin), only audited (warn), or ignored (off).
  toolPinning: z.enum(['pin', 'warn', 'off'], { error: 'expected pin, warn or off' }).default('pin'),
};

const secretMap = z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a plain name'), z.string({ error: 'expected a string' }));

const stdioServer = z.strictObject({
  name: slug('a server name'),
  description: text().optional(),
  transport: z.literal('stdio'),
  command: text('a command'),
  args: z.array(z.string({ error: 'expected a string' })).default([]),
  env: secretMap.default({}),
  cwd: text('a directory path').optional(),
  ...serverPolicy,
});

const streamableHttpServer = z
  .strictObject({
    name: slug('a server name'),
    description: text().optional(),
    transport: z.literal('streamable-http'),
    url: httpUrl,
    headers: secretMap.default({}),
    // Plain http to another host carries its headers (credentials) and every call in clear: only where the network itself protects them.
    allowPlainHttp: z.boolean({ error: 'expected true or false' }).optional(),
    // Sends the W3C traceparent of the broker's upstream span (observability.tracing on): only to a server trusted with the trace ids.
    propagateTraceContext: z.boolean().optional(),
    ...serverPolicy,
  })
  .superRefine((server, ctx) => {
    // A url that is no URL has its own problem reported already.
    if (!URL.canParse(server.url)) return;
    const url = new URL(server.url);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && server.allowPlainHttp !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'plain http to another host sends this server its headers (credentials) and every call unencrypted: use https, or set allowPlainHttp: true where the network protects them (a service mesh with mTLS)',
      });
    }
  });

const mcpServer = z.discriminatedUnion('transport', [stdioServer, streamableHttpServer], {
  error: 'expected transport "stdio" or "streamable-http"',
});

const graphqlSection = z
  .strictObject({
    maxDepth: positiveInt(64).default(10),
    maxAliases: positiveInt(1000).default(15),
    maxDirectives: positiveInt(1000).default(20),
    maxTokens: positiveInt(100_000).default(2_000),
    maxCost: positiveInt(1_000_000).default(5_000),
    // Off unless asked for: a map of the schema and "did you mean" hints help whoever probes it.
    introspection: z.boolean({ error: 'expected true or false' }).default(false),
    // Each subscription holds a live feed; one person must not starve the others.
    maxSubscriptionsPerConnection: positiveInt(1000).default(20),
    maxSubscriptionsPerUser: positiveInt(10_000).default(50),
  })
  .default({ maxDepth: 10, maxAliases: 15, maxDirectives: 20, maxTokens: 2_000, maxCost: 5_000, introspection: false, maxSubscriptionsPerConnection: 20, maxSubscriptionsPerUser: 50 });

const apiTokensSection = z
  .strictObject({
    // Long-lived tokens are what Portcullis replaces; keep them bounded.
    maxTtlSeconds: positiveInt(365 * 86400).default(90 * 86400),
  })
  .default({ maxTtlSeconds: 90 * 86400 });

const devIdpUser = z.strictObject({
  nameId: text('a NameID'),
  email: z.email({ error: 'expected an email address' }),
  displayName: text(),
  groups: z.array(text('a group name')).default([]),
});

/**
 * A development IdP served by the broker itself: anyone who reaches it signs in as any demo
 * user, so it runs only when enabled explicitly and only on a loopback address.
 */
const devIdpSection = z.strictObject({
  enabled: z.boolean({ error: 'expected true or false' }).default(false),
  users: z.array(devIdpUser).min(1, 'expected at least one demo user'),
});

/** The federated name prefix of the broker's own tools (portcullis__request_access). */
export const BROKER_TOOL_SERVER = 'portcullis';

/**
 * Requests one MCP session may have in flight at once (`broker.maxInFlightPerSession`). An
 * agent runs a handful of tool calls at a time and the throughput bench keeps 4 in flight per
 * session; 256 leaves room for a client fanning out reads, and bounds what one session can
 * make the broker hold and the upstream run.
 */
const DEFAULT_MAX_IN_FLIGHT_PER_SESSION = 256;
/** How long a server's request waits for the client's answer (`broker.clientAnswerTimeoutSeconds`): a person may be answering it. */
const DEFAULT_CLIENT_ANSWER_TIMEOUT_SECONDS = 900;

const brokerSection = z
  .strictObject({
    // ws would take 100 MiB frames; MCP messages are small.
    maxFrameBytes: positiveInt(64 * 1024 * 1024).default(1024 * 1024),
    pingIntervalSeconds: positiveInt(3600).default(30),
    revalidateIntervalSeconds: positiveInt(3600).default(15),
    idleTimeoutSeconds: positiveInt(86400).default(900),
    // Below the idle timeouts of the proxies in front, or they cut quiet SSE streams.
    keepAliveSeconds: positiveInt(3600).default(15),
    // Every session may hold an upstream process: one person must not exhaust the host.
    maxSessionsPerUser: positiveInt(100_000).default(16),
    maxSessionsPerInstance: positiveInt(1_000_000).default(2_000),
    maxUpstreamProcesses: positiveInt(1_000_000).default(500),
    // Each request in flight holds broker memory and upstream work until answered: bounded
    // per session whether or not rateLimits are configured.
    maxInFlightPerSession: positiveInt(10_000).default(DEFAULT_MAX_IN_FLIGHT_PER_SESSION),
    // A server's request of the client (sampling, elicitation, roots) holds one of its places
    // until answered: a client that never answers must not hold it for good.
    clientAnswerTimeoutSeconds: positiveInt(86_400).default(DEFAULT_CLIENT_ANSWER_TIMEOUT_SECONDS),
    // The broker tool `portcullis__request_access` on the federated Streamable HTTP endpoint: a
    // model files requests with it, and a prompt-injected model could, so its requests wait for
    // a reviewer even under an auto-approving rule unless `autoApprove` says otherwise.
    requestAccessTool: z
      .strictObject({ enabled: z.boolean({ error: 'expected true or false' }).default(true), autoApprove: z.boolean({ error: 'expected true or false' }).default(false) })
      .default({ enabled: true, autoApprove: false }),
  })
  .default({
    maxFrameBytes: 1024 * 1024,
    pingIntervalSeconds: 30,
    revalidateIntervalSeconds: 15,
    idleTimeoutSeconds: 900,
    keepAliveSeconds: 15,
    maxSessionsPerUser: 16,
    maxSessionsPerInstance: 2_000,
    maxUpstreamProcesses: 500,
    maxInFlightPerSession: DEFAULT_MAX_IN_FLIGHT_PER_SESSION,
    clientAnswerTimeoutSeconds: DEFAULT_CLIENT_ANSWER_TIMEOUT_SECONDS,
    requestAccessTool: { enabled: true, autoApprove: false },
  });

const auditSection = z
  .strictObject({
    // Added to the built-in list of credential-looking keys whose values are redacted.
    redactKeys: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected a key name')).default([]),
    // Absent: keep everything. Trimming records where the chain starts, so what remains verifies.
    retention: z
      .strictObject({
        maxAgeDays: positiveInt(36500).optional(),
        maxEvents: positiveInt().optional(),
      })
      .refine((r) => r.maxAgeDays !== undefined || r.maxEvents !== undefined, 'expected maxAgeDays and/or maxEvents')
      .optional(),
    // Absent: no signed checkpoints, so whoever can write the store can rewrite history unnoticed.
    checkpoints: z
      .strictObject({
        privateKey: ed25519PrivateKey,
        intervalSeconds: positiveInt(86400).default(DEFAULT_CHECKPOINT_INTERVAL_SECONDS),
      })
      .optional(),
    // Sinks the log is exported to (SIEMs, a data lake), each from its own durable cursor.
    export: auditExportSection,
  })
  .default({ redactKeys: [], export: { sinks: [] } });

/** The hosted callbacks of Claude (claude.ai and claude.com), allowed only with `oauth.allowClaudeHostedCallback`. */
export const CLAUDE_HOSTED_CALLBACKS = ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'];

const OAUTH_DEFAULTS = {
  enabled: true,
  accessTokenTtlSeconds: 600,
  refreshTokenMaxSeconds: 30 * 86400,
  consentTtlSeconds: 90 * 86400,
  registeredClientTtlSeconds: 180 * 86400,
  allowClaudeHostedCallback: false,
  allowedWebRedirectOrigins: [] as string[],
  redirectSchemes: [] as string[],
  clientMetadataDocuments: { maxBytes: 5 * 1024, timeoutMs: 5_000, cacheSeconds: 300, allowLoopback: false },
};

/**
 * The broker as OAuth 2.1 authorization server for MCP clients (server/oauth,
 * docs/oauth.md). Tokens are short-lived; refresh tokens never outlive the browser
 * sign-in that approved them, nor `refreshTokenMaxSeconds`.
 */
const oauthSection = z
  .strictObject({
    enabled: z.boolean({ error: 'expected true or false' }).default(OAUTH_DEFAULTS.enabled),
    accessTokenTtlSeconds: positiveInt(86400).default(OAUTH_DEFAULTS.accessTokenTtlSeconds),
    refreshTokenMaxSeconds: positiveInt(365 * 86400).default(OAUTH_DEFAULTS.refreshTokenMaxSeconds),
    consentTtlSeconds: positiveInt(365 * 86400).default(OAUTH_DEFAULTS.consentTtlSeconds),
    registeredClientTtlSeconds: positiveInt(3650 * 86400).default(OAUTH_DEFAULTS.registeredClientTtlSeconds),
    // Hosted (web) callbacks send the code to a third party's server: off unless the operator trusts it.
    allowClaudeHostedCallback: z.boolean({ error: 'expected true or false' }).default(OAUTH_DEFAULTS.allowClaudeHostedCallback),
    allowedWebRedirectOrigins: z
      .array(httpUrl.refine((v) => new URL(v).protocol === 'https:' && new URL(v).origin === v.replace(/\/$/, ''), 'expected an https origin such as https://app.example.com'))
      .default([]),
    // Private-use schemes of native MCP clients beside reverse domain names and the known ones (server/oauth/redirect-schemes.ts).
    redirectSchemes: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9.-]*$/, 'expected a URI scheme without the colon, such as grokbot')
          .transform((scheme) => scheme.toLowerCase())
          .refine((scheme) => !isLauncherScheme(scheme), 'a browser, web or launcher scheme: a code sent there reaches whatever page it opens'),
      )
      .default([]),
    // Client ID Metadata Documents are fetched from wherever a client_id points: bounded, and never inside our network.
    clientMetadataDocuments: z
      .strictObject({
        maxBytes: positiveInt(1024 * 1024).default(OAUTH_DEFAULTS.clientMetadataDocuments.maxBytes),
        timeoutMs: positiveInt(60_000).default(OAUTH_DEFAULTS.clientMetadataDocuments.timeoutMs),
        cacheSeconds: nonNegativeInt(86400).default(OAUTH_DEFAULTS.clientMetadataDocuments.cacheSeconds),
        // Development only (checked below): http and loopback/private addresses, for a client served on this machine.
        allowLoopback: z.boolean({ error: 'expected true or false' }).default(false),
      })
      .default(OAUTH_DEFAULTS.clientMetadataDocuments),
  })
  .default(OAUTH_DEFAULTS);

const rateLimit = z.strictObject({
  points: positiveInt(1_000_000),
  durationSeconds: positiveInt(86_400),
});

/** A sign-in costs a person about 3 to 8 of these requests; a flood costs an attacker the rest. */
const UNAUTHENTICATED_LIMIT = { points: 120, durationSeconds: 60 };

/**
 * A console page or a CLI command makes a handful of GraphQL requests, `request --wait`
 * one per 15 s: 10 a second for a whole minute from one address is a script, not a person
 * (a flood of token creations, a credential being guessed).
 */
const GRAPHQL_LIMIT = { points: 600, durationSeconds: 60 };
/** An IdP's full import pages through every user and group, and pushes one change per request. */
const SCIM_LIMIT = { points: 1200, durationSeconds: 60 };

const rateLimitsSection = z
  .strictObject({
    // Per client address, over every route reachable without a credential.
    unauthenticated: rateLimit.default(UNAUTHENTICATED_LIMIT),
    // Per client address, over POST/GET /graphql, graphql-ws upgrades and each operation sent over graphql-ws together.
    graphql: rateLimit.default(GRAPHQL_LIMIT),
    // Per client address, over /scim/v2 (counted before the token is checked).
    scim: rateLimit.default(SCIM_LIMIT),
  })
  .default({ unauthenticated: UNAUTHENTICATED_LIMIT, graphql: GRAPHQL_LIMIT, scim: SCIM_LIMIT });

const loggingSection = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'expected one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  })
  .default({ level: 'info' });

/**
 * OpenTelemetry traces (docs/observability.md): off unless `enabled`; spans go by
 * OTLP/HTTP (JSON) to `endpoint`, the full traces URL (`https://collector:4318/v1/traces`).
 */
const TRACING_DEFAULTS = { enabled: false, headers: {}, samplingRatio: 1, serviceName: 'portcullis' };
const tracingSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    endpoint: httpUrl.optional(),
    // Sent with every export (an API key): values as references (${env:...} or ${file:...}).
    headers: secretMap.default({}),
    // Of the traces this broker starts; a client's traceparent decides for its own (parent-based).
    samplingRatio: numeric(z.number().min(0).max(1)).default(1),
    serviceName: text('a service name').default('portcullis'),
  })
  .refine((t) => !t.enabled || t.endpoint !== undefined, { path: ['endpoint'], message: 'required when tracing is enabled' })
  .default(TRACING_DEFAULTS);

const observabilitySection = z.strictObject({ tracing: tracingSection }).default({ tracing: TRACING_DEFAULTS });

const severity = z.enum(['low', 'medium', 'high', 'critical'], { error: 'expected one of low, medium, high, critical' });
/** Every rule has these; its own thresholds beside them. */
const ruleBase = (defaultSeverity: 'low' | 'medium' | 'high') => ({ enabled: z.boolean().default(true), severity: severity.default(defaultSeverity) });
const ratio = (max: number) => numeric(z.number().positive().max(max));

/**
 * Outlier detection (issue 17). Defaults are what `npm run bench -- --only=detection`
 * measured precision and recall at; every threshold is per rule.
 */
const DETECTION_RULE_DEFAULTS = {
  // First use of a tool or server by this user (after their warm-up).
  first_use_by_user: { enabled: true, severity: 'low' as const },
  // First use of a tool or server by anyone in the role the grant was issued under.
  first_use_by_role: { enabled: true, severity: 'medium' as const },
  // Calls in a window against the user's own median (and MAD) for that hour of week.
  rate_spike: { enabled: true, severity: 'medium' as const, windowMinutes: 10, minCalls: 40, factor: 4, madMultiplier: 6, minWeeks: 2 },
  // Refused calls, tokens and connections by one user in a window.
  probing: { enabled: true, severity: 'high' as const, windowSeconds: 300, minDenials: 10 },
  // Distinct tools, servers or argument values of one tool in a window.
  breadth: { enabled: true, severity: 'medium' as const, windowSeconds: 600, distinctTools: 15, distinctServers: 5, distinctArguments: 60 },
  // Activity in an hour this user has (almost) never been active in, neither in that hour of the week nor in that hour of any day.
  off_hours: { enabled: true, severity: 'low' as const, minHistoryDays: 14, maxShare: 0.002, maxDayShare: 0.01, minCallsInStretch: 5 },
  // Params or results far larger than this tool's usual (a robust baseline of its sizes).
  large_payload: { enabled: true, severity: 'medium' as const, factor: 8, madMultiplier: 4, minBytes: 32768, minSamples: 30, resultFloorBytes: 16384 },
  // An MCP client name this user has never connected with.
  new_client: { enabled: true, severity: 'low' as const },
};
const D = DETECTION_RULE_DEFAULTS;
const detectionRules = z
  .strictObject({
    first_use_by_user: z.strictObject(ruleBase('low')).default(D.first_use_by_user),
    first_use_by_role: z.strictObject(ruleBase('medium')).default(D.first_use_by_role),
    rate_spike: z
      .strictObject({
        ...ruleBase('medium'),
        windowMinutes: positiveInt(60).default(D.rate_spike.windowMinutes),
        minCalls: positiveInt().default(D.rate_spike.minCalls),
        factor: ratio(1000).default(D.rate_spike.factor),
        madMultiplier: ratio(1000).default(D.rate_spike.madMultiplier),
        minWeeks: positiveInt(52).default(D.rate_spike.minWeeks),
      })
      .default(D.rate_spike),
    probing: z
      .strictObject({ ...ruleBase('high'), windowSeconds: positiveInt(86400).default(D.probing.windowSeconds), minDenials: positiveInt(1000).default(D.probing.minDenials) })
      .default(D.probing),
    breadth: z
      .strictObject({
        ...ruleBase('medium'),
        windowSeconds: positiveInt(86400).default(D.breadth.windowSeconds),
        distinctTools: positiveInt(1000).default(D.breadth.distinctTools),
        distinctServers: positiveInt(1000).default(D.breadth.distinctServers),
        distinctArguments: positiveInt(1000).default(D.breadth.distinctArguments),
      })
      .default(D.breadth),
    off_hours: z
      .strictObject({
        ...ruleBase('low'),
        minHistoryDays: positiveInt(365).default(D.off_hours.minHistoryDays),
        maxShare: ratio(1).default(D.off_hours.maxShare),
        maxDayShare: ratio(1).default(D.off_hours.maxDayShare),
        minCallsInStretch: positiveInt(1000).default(D.off_hours.minCallsInStretch),
      })
      .default(D.off_hours),
    large_payload: z
      .strictObject({
        ...ruleBase('medium'),
        factor: ratio(1_000_000).default(D.large_payload.factor),
        // In log size: past the tool's usual spread too, so a tool whose sizes vary widely is judged by its own spread.
        madMultiplier: ratio(1000).default(D.large_payload.madMultiplier),
        minBytes: positiveInt().default(D.large_payload.minBytes),
        minSamples: positiveInt(128).default(D.large_payload.minSamples),
        resultFloorBytes: positiveInt().default(D.large_payload.resultFloorBytes),
      })
      .default(D.large_payload),
    new_client: z.strictObject(ruleBase('low')).default(D.new_client),
  })
  .default(DETECTION_RULE_DEFAULTS);

const detectionResponse = z.strictObject({
  // A rule id, or "*" for every rule.
  rule: z.enum(['*', ...RULE_IDS], { error: `expected a rule id (${RULE_IDS.join(', ')}) or "*"` }),
  // The response applies to detections of this severity or above.
  minSeverity: severity.default('low'),
  action: z.enum(['record', 'suspend_session', 'revoke_grant'], { error: 'expected one of record, suspend_session, revoke_grant' }),
});

const DETECTION_DEFAULTS = { enabled: true, warmupDays: 7, warmupEvents: 50, stateTtlDays: 56, maxEntities: 100_000, keepAnomalies: 10_000, rules: DETECTION_RULE_DEFAULTS, responses: [] };
const detectionSection = z
  .strictObject({
    // On by default, recording only: a new install raises alerts without cutting anyone off.
    enabled: z.boolean().default(DETECTION_DEFAULTS.enabled),
    // A user is judged only after this long and this many observations (their baseline first).
    warmupDays: positiveInt(365).default(DETECTION_DEFAULTS.warmupDays),
    warmupEvents: positiveInt(1_000_000).default(DETECTION_DEFAULTS.warmupEvents),
    // Learned state of an entity not seen for this long is dropped.
    stateTtlDays: positiveInt(3650).default(DETECTION_DEFAULTS.stateTtlDays),
    // Entities (users, tools, roles) with learned state at most; tools a quarter, each pool dropping its least recently seen first.
    maxEntities: positiveInt(10_000_000).default(DETECTION_DEFAULTS.maxEntities),
    // Anomalies kept for the API and console (the audit log keeps every one).
    keepAnomalies: positiveInt(1_000_000).default(DETECTION_DEFAULTS.keepAnomalies),
    rules: detectionRules,
    // Absent: record only. The first response whose rule and severity match applies.
    responses: z.array(detectionResponse).max(50).default([]),
  })
  .default(DETECTION_DEFAULTS);


/**
 * Notifications (issue 19): sinks told of audit events by the dispatcher. A discriminated
 * union on `type`, so each sink type adds its own variant (email, Slack) beside webhook.
 */
export const DEFAULT_NOTIFICATION_EVENTS = [
  'access_request.created',
  'access_request.reviewed',
  'access_request.expired',
  'access_request.cancelled',
  'grant.revoked',
  'anomaly.detected',
] as const satisfies readonly AuditEventType[];

const notificationSinkBase = {
  name: sinkName,
  events: z
    .array(z.enum(AUDIT_EVENT_TYPES, { error: 'expected an audit event type (docs/audit.md)' }))
    .min(1, 'expected at least one audit event type')
    .default([...DEFAULT_NOTIFICATION_EVENTS]),
  // Absent: every server. Events without a server (anomalies of no server) pass.
  servers: z.array(text('a server name')).min(1, 'expected at least one server name').optional(),
  // For anomaly.* events: those below this severity are not sent.
  minSeverity: severity.default('medium'),
  maxAttempts: positiveInt(100).default(8),
};

/** The URL a webhook is posted to: https, or plain http to a loopback receiver (a lab, a test). */
const webhookUrl = httpUrl.refine((v) => {
  const url = new URL(v);
  return url.protocol === 'https:' || isLoopbackHost(url.hostname);
}, 'expected an https URL (plain http only to a loopback address)');

const webhookSink = z.strictObject({
  ...notificationSinkBase,
  type: z.literal('webhook'),
  url: webhookUrl,
  // Signs every POST (HMAC-SHA256): a reference (${env:...} or ${file:...}).
  secret: z
    .string({ error: 'expected a signing secret (use ${env:NAME} or ${file:PATH})' })
    .min(32, 'expected at least 32 characters: a short secret lets anyone forge deliveries'),
  timeoutMs: positiveInt(60_000).default(5000),
});

// The email and Slack variants' own keys live beside their sinks; the keys every sink has are added here.
const emailSink = z.strictObject({ ...emailSinkConfig.shape, ...notificationSinkBase });
const slackSink = z.strictObject({ ...slackSinkConfig.shape, ...notificationSinkBase }).superRefine(checkSlackSink);

const notificationSink = z.discriminatedUnion('type', [webhookSink, emailSink, slackSink], { error: 'expected a sink type: webhook, email or slack' });

const notificationsSection = z
  .strictObject({ sinks: z.array(notificationSink).max(50).default([]) })
  .default({ sinks: [] });


/** The IdP id the development IdP registers itself under. */
export const DEV_IDP_ID = 'dev';

export const configSchema = z
  .strictObject({
    server: serverSection,
    store: storeSection,
    session: z.strictObject({ ttlSeconds: positiveInt(30 * 86400).default(28800) }).default({ ttlSeconds: 28800 }),
    identityProviders: z.array(identityProvider).default([]),
    saml: samlSection,
    roles: z.array(role).default([]),
    approvals: z
      .strictObject({
        requiredApprovals: positiveInt(10).default(1),
        requestTtlSeconds: positiveInt().default(86400),
        maxDurationSeconds: positiveInt().default(1209600),
      })
      .default({ requiredApprovals: 1, requestTtlSeconds: 86400, maxDurationSeconds: 1209600 }),
    servers: z.array(mcpServer).default([]),
    apiTokens: apiTokensSection,
    audit: auditSection,
    broker: brokerSection,
    devIdp: devIdpSection.optional(),
    graphql: graphqlSection,
    rateLimits: rateLimitsSection,
    logging: loggingSection,
    observability: observabilitySection,
    oauth: oauthSection,
    detection: detectionSection,
    notifications: notificationsSection,
  })
  .superRefine((config, ctx) => {
    const unique = (items: { value: string; path: (string | number)[] }[], what: string) => {
      const seen = new Set<string>();
      for (const item of items) {
        if (seen.has(item.value)) ctx.addIssue({ code: 'custom', path: item.path, message: `duplicate ${what} "${item.value}"` });
        seen.add(item.value);
      }
    };
    unique(config.identityProviders.map((idp, i) => ({ value: idp.id, path: ['identityProviders', i, 'id'] })), 'IdP id');
    if (config.devIdp?.enabled) {
      if (!isLoopbackHost(config.server.host)) {
        ctx.addIssue({ code: 'custom', path: ['server', 'host'], message: 'devIdp is enabled: the broker must listen on a loopback address only (127.0.0.1, ::1 or localhost)' });
      }
      if (!isLoopbackHost(new URL(config.server.publicUrl).hostname)) {
        ctx.addIssue({ code: 'custom', path: ['server', 'publicUrl'], message: 'devIdp is enabled: the public URL must be a loopback address' });
      }
      config.identityProviders.forEach((idp, i) => {
        if (idp.id === DEV_IDP_ID) ctx.addIssue({ code: 'custom', path: ['identityProviders', i, 'id'], message: `"${DEV_IDP_ID}" is reserved for devIdp` });
      });
      unique(config.devIdp.users.map((u, i) => ({ value: u.nameId, path: ['devIdp', 'users', i, 'nameId'] })), 'demo user');
    }
    if (config.oauth.clientMetadataDocuments.allowLoopback && !isLoopbackHost(new URL(config.server.publicUrl).hostname)) {
      ctx.addIssue({ code: 'custom', path: ['oauth', 'clientMetadataDocuments', 'allowLoopback'], message: 'development only: allowed when the public URL is a loopback address' });
    }
    unique(config.servers.map((s, i) => ({ value: s.name, path: ['servers', i, 'name'] })), 'server name');
    // The federated endpoint names the broker's own tools portcullis__<tool>; /mcp/ws is the federated WebSocket endpoint, not a server's Streamable HTTP one.
    config.servers.forEach((s, i) => {
      if (s.name === BROKER_TOOL_SERVER) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `"${BROKER_TOOL_SERVER}" is reserved for the broker's own tools` });
      if (s.name === 'ws') ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: '"ws" is reserved: /mcp/ws is the federated WebSocket endpoint' });
    });
    unique(config.roles.map((r, i) => ({ value: r.name, path: ['roles', i, 'name'] })), 'role name');
    unique(config.notifications.sinks.map((sink, i) => ({ value: sink.name, path: ['notifications', 'sinks', i, 'name'] })), 'sink name');
    unique(config.audit.export.sinks.map((sink, i) => ({ value: sink.name, path: ['audit', 'export', 'sinks', i, 'name'] })), 'export sink name');
    // A signing secret names the sink a Slack action is for (its workspace and bot token): one secret, one sink. The secret is never in the message.
    const signers = new Map<string, string>();
    config.notifications.sinks.forEach((sink, i) => {
      if (sink.type !== 'slack' || sink.signingSecret === undefined) return;
      const first = signers.get(sink.signingSecret);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['notifications', 'sinks', i, 'signingSecret'], message: `the same signing secret as sink "${first}": the secret tells which sink (workspace, bot token) an action is for, so no two sinks share one` });
      else signers.set(sink.signingSecret, sink.name);
    });

    checkEmailDomains(config, ctx);
    config.identityProviders.forEach((idp, i) => {
      if (idp.type === 'saml' && idp.requireEncryptedAssertions && config.saml.serviceProvider.keys.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['identityProviders', i, 'requireEncryptedAssertions'], message: 'needs saml.serviceProvider.keys (the key IdPs encrypt to)' });
      }
    });
    if (config.saml.serviceProvider.keys.length === 0) {
      config.identityProviders.forEach((idp, i) => {
        if (idp.type === 'saml' && idp.singleLogoutUrl !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['identityProviders', i, 'singleLogoutUrl'], message: 'Single Logout needs an SP key to sign with: add one under saml.serviceProvider.keys' });
        }
      });
    }

    const idps = new Set([...config.identityProviders.map((idp) => idp.id), ...(config.devIdp?.enabled ? [DEV_IDP_ID] : [])]);
    const servers = new Set(config.servers.map((s) => s.name));
    config.notifications.sinks.forEach((sink, i) => {
      sink.servers?.forEach((name, j) => {
        if (!servers.has(name)) ctx.addIssue({ code: 'custom', path: ['notifications', 'sinks', i, 'servers', j], message: `unknown server "${name}" (not in servers)` });
      });
    });
    config.roles.forEach((r, i) => {
      r.members.idps?.forEach((id, j) => {
        if (!idps.has(id)) ctx.addIssue({ code: 'custom', path: ['roles', i, 'members', 'idps', j], message: `unknown IdP "${id}" (not in identityProviders, nor the enabled devIdp)` });
      });
      for (const kind of ['request', 'review'] as const) {
        r[kind].forEach((rule, j) => {
          if (!servers.has(rule.server)) {
            ctx.addIssue({ code: 'custom', path: ['roles', i, kind, j, 'server'], message: `unknown server "${rule.server}" (not in servers)` });
          }
        });
      }
      r.request.forEach((rule, j) => {
        if (rule.maxDurationSeconds > config.approvals.maxDurationSeconds) {
          ctx.addIssue({
            code: 'custom',
            path: ['roles', i, 'request', j, 'maxDurationSeconds'],
            message: `exceeds approvals.maxDurationSeconds (${config.approvals.maxDurationSeconds})`,
          });
        }
      });
    });
  });

type Path = (string | number)[];

/**
 * One email, one IdP: beside another IdP (the development IdP counts, with its users'
 * domains), every IdP must say which email domains it may assert, and no domain may be
 * another's. Otherwise a second IdP could sign in as anyone the first one vouches for.
 */
function checkEmailDomains(config: Pick<PortcullisConfig, 'identityProviders' | 'devIdp'>, ctx: z.RefinementCtx): void {
  const parties: { label: string; path: Path; domains: { pattern: string; path: Path }[] | undefined }[] = config.identityProviders.map((idp, i) => ({
    label: `identityProviders[${i}] ("${idp.id}")`,
    path: ['identityProviders', i, 'emailDomains'],
    domains: idp.emailDomains?.map((pattern, j) => ({ pattern, path: ['identityProviders', i, 'emailDomains', j] })),
  }));
  if (config.devIdp?.enabled) {
    parties.push({ label: `devIdp ("${DEV_IDP_ID}")`, path: ['devIdp', 'users'], domains: config.devIdp.users.map((u, j) => ({ pattern: domainOf(u.email), path: ['devIdp', 'users', j, 'email'] })) });
  }
  if (parties.length < 2) return;
  parties.forEach((party, a) => {
    if (!party.domains) {
      ctx.addIssue({ code: 'custom', path: party.path, message: 'required when several identity providers are configured: the email domains this IdP may assert' });
      return;
    }
    for (const other of parties.slice(0, a)) {
      for (const mine of party.domains) {
        const clash = other.domains?.find((theirs) => patternsOverlap(mine.pattern, theirs.pattern));
        if (clash) ctx.addIssue({ code: 'custom', path: mine.path, message: `domain "${mine.pattern}" overlaps "${clash.pattern}" of ${other.label}: an email domain belongs to one IdP` });
      }
    }
  });
}

export type PortcullisConfig = z.output<typeof configSchema>;
export type AnyIdentityProviderConfig = PortcullisConfig['identityProviders'][number];
/** A SAML IdP's entry (the name predates OIDC entries). */
export type IdentityProviderConfig = Extract<AnyIdentityProviderConfig, { type: 'saml' }>;
export type OidcIdentityProviderConfig = Extract<AnyIdentityProviderConfig, { type: 'oidc' }>;
export type McpServerConfig = PortcullisConfig['servers'][number];
export type RoleConfig = PortcullisConfig['roles'][number];
export type ToolRateLimits = z.output<typeof toolRateLimits>;
export type NotificationSinkConfig = PortcullisConfig['notifications']['sinks'][number];
export type WebhookSinkConfig = Extract<NotificationSinkConfig, { type: 'webhook' }>;
