import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config/load.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { EXAMPLE_SECRETS, exampleConfigFixture } from '../support/example-config.js';

function writeConfig(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, yaml);
  return file;
}

function problemsOf(file: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(file, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n').map((line) => line.slice(file.length).replace(/^:? ?/, ''));
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

const minimal = 'server:\n  publicUrl: http://127.0.0.1:8080\n';

describe('loading the documented example', () => {
  it('accepts infra/portcullis.example.yaml with its references satisfied', async () => {
    const { file, env } = await exampleConfigFixture();
    const { config, secrets } = loadConfig(file, env);
    expect(config.servers.map((s) => s.name)).toEqual(['everything', 'remote-docs']);
    expect(config.store.redis).toMatchObject({ url: 'redis://127.0.0.1:6379', keyPrefix: 'portcullis:' });
    expect(config.servers[1]).toMatchObject({ headers: { Authorization: `Bearer ${EXAMPLE_SECRETS.REMOTE_DOCS_TOKEN}` } });
    const idp = config.identityProviders[0];
    expect(idp?.type === 'saml' && idp.idpCert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(secrets).toContain(EXAMPLE_SECRETS.EVERYTHING_API_KEY);
    expect(secrets).toContain(EXAMPLE_SECRETS.REMOTE_DOCS_TOKEN);
    expect(config.audit.export.sinks.map((sink) => `${sink.name}:${sink.type}:${sink.format}`)).toEqual(['splunk:splunk-hec:ocsf', 'archive:file:json']);
    expect(secrets).toContain(EXAMPLE_SECRETS.SPLUNK_HEC_TOKEN);
  });

  it('reports each missing reference with its line and key path', async () => {
    const { file } = await exampleConfigFixture();
    expect(problemsOf(file, {})).toEqual([
      expect.stringMatching(/^\d+: servers\[0\]\.env\.EXAMPLE_API_KEY: environment variable EVERYTHING_API_KEY is not set$/),
      expect.stringMatching(/^\d+: servers\[1\]\.headers\.Authorization: environment variable REMOTE_DOCS_TOKEN is not set$/),
      expect.stringMatching(/^\d+: audit\.export\.sinks\[0\]\.token: environment variable SPLUNK_HEC_TOKEN is not set$/),
    ]);
  });
});

describe('references', () => {
  it('resolves ${env:NAME} and ${file:PATH} (relative to the config, trailing newline dropped) and keeps $${ literal', () => {
    const file = writeConfig(
      `${minimal}servers:\n  - name: docs\n    transport: streamable-http\n    url: http://127.0.0.1:9000/mcp\n    headers:\n      Authorization: Bearer \${file:token.txt}\n      X-Key: \${env:DOCS_KEY}\n      X-Literal: "$\${env:NOT_RESOLVED}"\n`,
      { 'token.txt': 'file-token-value\n' },
    );
    const { config, secrets } = loadConfig(file, { DOCS_KEY: 'env-key-value' });
    expect(config.servers[0]).toMatchObject({ headers: { Authorization: 'Bearer file-token-value', 'X-Key': 'env-key-value', 'X-Literal': '${env:NOT_RESOLVED}' } });
    expect([...secrets].sort()).toEqual(['env-key-value', 'file-token-value']);
  });

  it('accepts a number from the environment where a number is expected', () => {
    const file = writeConfig('server:\n  publicUrl: http://127.0.0.1:8080\n  port: ${env:PORT}\n');
    expect(loadConfig(file, { PORT: '9090' }).config.server.port).toBe(9090);
  });

  it('rejects unknown reference kinds, empty variables and unreadable files', () => {
    const file = writeConfig(`${minimal}servers:\n  - name: a\n    transport: stdio\n    command: run\n    env:\n      A: \${vault:x}\n      B: \${env:EMPTY}\n      C: \${file:missing.pem}\n`);
    expect(problemsOf(file, { EMPTY: '' })).toEqual([
      '8: servers[0].env.A: unknown reference "${vault:x}"; use ${env:NAME} or ${file:PATH}',
      '9: servers[0].env.B: environment variable EMPTY is empty',
      '10: servers[0].env.C: cannot read file missing.pem (ENOENT)',
    ]);
  });
});

describe('validation errors', () => {
  let cert: string;
  beforeAll(async () => {
    cert = (await selfSignedCertificate()).cert;
  });

  it('names the file, line and key path of every problem at once', () => {
    const file = writeConfig(
      [
        'server:',
        '  publicUrl: not-a-url',
        '  colour: blue',
        'servers:',
        '  - name: everything',
        '    transport: stdio',
        '    command: npx',
        'roles:',
        '  - name: a',
        '    members: { groups: [x] }',
        '  - name: b',
        '    members: { groups: [y] }',
        '    request:',
        '      - server: everything',
        '        tools: ["*"]',
        '        maxDurationSeconds: 0',
        '',
      ].join('\n'),
    );
    expect(problemsOf(file)).toEqual([
      '2: server.publicUrl: expected an http(s) URL without credentials',
      '3: server.colour: unknown key',
      '16: roles[1].request[0].maxDurationSeconds: expected a positive integer',
    ]);
  });

  it('reports a missing required key at the mapping that lacks it', () => {
    expect(problemsOf(writeConfig('server:\n  port: 8080\n'))).toEqual(['2: server.publicUrl: required']);
  });

  it('refuses duplicates, unknown servers in roles, durations over the global cap and bad tool patterns', () => {
    const file = writeConfig(
      [
        minimal.trimEnd(),
        'approvals: { maxDurationSeconds: 3600 }',
        'servers:',
        '  - { name: a, transport: stdio, command: x }',
        '  - { name: a, transport: stdio, command: y }',
        'roles:',
        '  - name: r',
        '    members: { emails: [someone@example.com] }',
        '    request:',
        '      - { server: nope, tools: ["*"], maxDurationSeconds: 60 }',
        '      - { server: a, tools: ["read file"], maxDurationSeconds: 7200 }',
        '',
      ].join('\n'),
    );
    expect(problemsOf(file)).toEqual([
      '6: servers[1].name: duplicate server name "a"',
      '11: roles[0].request[0].server: unknown server "nope" (not in servers)',
      '12: roles[0].request[1].tools[0]: expected a tool name pattern: letters, digits, "_", "-", "." and "*" wildcards, 1-128 characters',
      '12: roles[0].request[1].maxDurationSeconds: exceeds approvals.maxDurationSeconds (3600)',
    ]);
  });

  it('refuses server names the broker\'s own endpoints and tools use', () => {
    const file = writeConfig(`${minimal}servers:\n  - { name: portcullis, transport: stdio, command: x }\n  - { name: ws, transport: stdio, command: y }\n`);
    expect(problemsOf(file)).toEqual([
      expect.stringMatching(/servers\[0\]\.name: "portcullis" is reserved for the broker's own tools$/),
      expect.stringMatching(/servers\[1\]\.name: "ws" is reserved: \/mcp\/ws is the federated WebSocket endpoint$/),
    ]);
  });

  it("refuses plain http to an upstream on another host unless the operator says the network protects it", () => {
    const server = (url: string, ...extra: string[]) => writeConfig([minimal.trimEnd(), 'servers:', '  - name: docs', '    transport: streamable-http', `    url: ${url}`, '    headers: { Authorization: Bearer t0k3n }', ...extra, ''].join('\n'));
    expect(problemsOf(server('http://docs.internal:9000/mcp'))).toEqual([expect.stringMatching(/^6: servers\[0\]\.url: plain http to another host sends this server its headers \(credentials\)/)]);
    expect(loadConfig(server('http://docs.internal:9000/mcp', '    allowPlainHttp: true'), {}).config.servers[0]).toMatchObject({ url: 'http://docs.internal:9000/mcp', allowPlainHttp: true });
    expect(problemsOf(server('not a url'))).toEqual(['6: servers[0].url: expected an http(s) URL without credentials']);
    for (const url of ['https://docs.example.com/mcp', 'http://127.0.0.1:9000/mcp', 'http://localhost:9000/mcp', 'http://[::1]:9000/mcp']) {
      expect(loadConfig(server(url), {}).config.servers[0]).toMatchObject({ url });
    }
  });

  it('takes per-user tool-call limits per server and per tool, on either transport', () => {
    const file = writeConfig(
      [
        minimal.trimEnd(),
        'servers:',
        '  - name: docs',
        '    transport: streamable-http',
        '    url: https://docs.example.com/mcp',
        '    rateLimits:',
        '      calls: 60',
        '      windowSeconds: 60',
        '      concurrent: 4',
        '      tools:',
        '        search: { calls: 10, windowSeconds: 60 }',
        '        __proto__: { concurrent: 1 }',
        '  - { name: local, transport: stdio, command: x, rateLimits: { concurrent: 2 } }',
        '  - { name: open, transport: stdio, command: x }',
        '',
      ].join('\n'),
    );
    const [docs, local, open] = loadConfig(file, {}).config.servers;
    expect(docs?.rateLimits).toMatchObject({ calls: 60, windowSeconds: 60, concurrent: 4 });
    // A Map: a tool named __proto__ would vanish from a plain object, and its limit with it.
    expect([...(docs?.rateLimits?.tools ?? [])]).toEqual([
      ['search', { calls: 10, windowSeconds: 60 }],
      ['__proto__', { concurrent: 1 }],
    ]);
    expect(local?.rateLimits).toEqual({ concurrent: 2 });
    expect(open?.rateLimits).toBeUndefined();
  });

  it('refuses tool-call limits in the wrong shape, naming the key', () => {
    const file = writeConfig(
      [
        minimal.trimEnd(),
        'servers:',
        '  - name: a',
        '    transport: stdio',
        '    command: x',
        '    rateLimits:',
        '      calls: 0',
        '      windowSeconds: 60',
        '      perUser: 5',
        '      tools:',
        '        "read file": { calls: 1, windowSeconds: 1 }',
        '        search: { calls: 10 }',
        '        fetch: {}',
        '        list: { concurrent: -1 }',
        '  - { name: b, transport: stdio, command: x, rateLimits: { windowSeconds: 60 } }',
        '  - { name: c, transport: stdio, command: x, rateLimits: {} }',
        '  - { name: d, transport: stdio, command: x, rateLimits: { tools: [search] } }',
        '',
      ].join('\n'),
    );
    expect(problemsOf(file)).toEqual([
      '8: servers[0].rateLimits.calls: expected a positive integer',
      '10: servers[0].rateLimits.perUser: unknown key',
      '12: servers[0].rateLimits.tools.read file: expected a tool name: letters, digits, "_", "-" and ".", 1-128 characters',
      '13: servers[0].rateLimits.tools.search.windowSeconds: expected windowSeconds beside calls (calls per how many seconds)',
      '14: servers[0].rateLimits.tools.fetch: expected calls with windowSeconds, and/or concurrent',
      '15: servers[0].rateLimits.tools.list.concurrent: expected a positive integer',
      '16: servers[1].rateLimits.calls: expected calls beside windowSeconds (how many calls per window)',
      '17: servers[2].rateLimits: expected calls with windowSeconds, concurrent, and/or tools',
      '18: servers[3].rateLimits.tools: expected a mapping of tool names to limits',
    ]);
  });

  it('takes toolPinning per server (pin unless said) and refuses any other value, naming the key', () => {
    const servers = (pinning: string) =>
      writeConfig([minimal.trimEnd(), 'servers:', '  - { name: a, transport: stdio, command: x }', `  - { name: b, transport: stdio, command: x, toolPinning: ${pinning} }`, ''].join('\n'));
    expect(loadConfig(servers('warn'), {}).config.servers.map((s) => s.toolPinning)).toEqual(['pin', 'warn']);
    expect(loadConfig(servers('off'), {}).config.servers[1]?.toolPinning).toBe('off');
    expect(problemsOf(servers('block'))).toEqual(['5: servers[1].toolPinning: expected pin, warn or off']);
  });

  it('checks that an IdP certificate is a real X.509 certificate', () => {
    const idp = (certValue: string) =>
      `${minimal}identityProviders:\n  - id: corp\n    entryPoint: https://idp.example.com/sso\n    idpIssuer: https://idp.example.com\n    idpCert: \${file:idp.pem}\n    spEntityId: https://sp.example.com\n    clockSkewSeconds: ${certValue === cert ? 60 : 3600}\n`;
    const loaded = loadConfig(writeConfig(idp(cert), { 'idp.pem': cert }), {}).config.identityProviders[0];
    expect(loaded?.type === 'saml' && loaded.attributes).toEqual({ email: 'email' });
    expect(problemsOf(writeConfig(idp('x'), { 'idp.pem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }))).toEqual([
      '7: identityProviders[0].idpCert: expected a PEM-encoded X.509 certificate',
      '9: identityProviders[0].clockSkewSeconds: expected at most 300',
    ]);
  });

  it('offers Single Logout only with an SP key, and bounds IdP-initiated sign-in (off by default)', () => {
    const idp = (extra: string) =>
      `${minimal}identityProviders:\n  - id: corp\n    entryPoint: https://idp.example.com/sso\n    idpIssuer: https://idp.example.com\n    idpCert: \${file:idp.pem}\n    spEntityId: https://sp.example.com\n${extra}`;
    const defaults = loadConfig(writeConfig(idp(''), { 'idp.pem': cert }), {}).config.identityProviders[0];
    if (defaults?.type !== 'saml') throw new Error('expected a SAML IdP');
    expect(defaults.idpInitiatedSignIn).toEqual({ enabled: false, maxAgeSeconds: 60, returnTo: '/' });
    expect(defaults.singleLogoutUrl).toBeUndefined();
    const bad = '    singleLogoutUrl: https://idp.example.com/slo\n    idpInitiatedSignIn: { enabled: true, maxAgeSeconds: 3600, returnTo: "//evil.example/" }\n';
    expect(problemsOf(writeConfig(idp(bad), { 'idp.pem': cert }))).toEqual([
      '9: identityProviders[0].singleLogoutUrl: Single Logout needs an SP key to sign with: add one under saml.serviceProvider.keys',
      '10: identityProviders[0].idpInitiatedSignIn.maxAgeSeconds: expected at most 300',
      '10: identityProviders[0].idpInitiatedSignIn.returnTo: expected a path on this server, such as "/"',
    ]);
  });

  it('takes an Ed25519 private key for audit checkpoints, and names what is wrong with any other key without echoing it', () => {
    const ed25519 = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const checkpoints = (extra = '') => `${minimal}audit:\n  checkpoints:\n    privateKey: \${file:key.pem}\n${extra}`;
    const { config } = loadConfig(writeConfig(checkpoints(), { 'key.pem': ed25519.privateKey }), {});
    expect(config.audit.checkpoints).toEqual({ privateKey: ed25519.privateKey.trimEnd(), intervalSeconds: 300 });
    expect(problemsOf(writeConfig(checkpoints('    intervalSeconds: 0\n'), { 'key.pem': rsa.privateKey }))).toEqual([
      '5: audit.checkpoints.privateKey: expected an Ed25519 private key, got rsa',
      '6: audit.checkpoints.intervalSeconds: expected a positive integer',
    ]);
    const problems = problemsOf(writeConfig(checkpoints(), { 'key.pem': ed25519.publicKey }));
    expect(problems).toEqual(['5: audit.checkpoints.privateKey: expected a PEM Ed25519 private key (make one with: openssl genpkey -algorithm ed25519)']);
  });

  it('takes only an RSA key of 2048 bits or more as an SP key, naming what it got without echoing it', async () => {
    const [rsa, ec] = await Promise.all([selfSignedCertificate('sp'), selfSignedCertificate('sp-ec', 'ec')]);
    const ed25519 = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const spKey = `${minimal}saml:\n  serviceProvider:\n    keys:\n      - privateKey: \${file:key.pem}\n        certificate: \${file:cert.pem}\n`;
    expect(loadConfig(writeConfig(spKey, { 'key.pem': rsa.privateKey, 'cert.pem': rsa.cert }), {}).config.saml.serviceProvider.keys).toHaveLength(1);
    const refusal = (got: string) => `6: saml.serviceProvider.keys[0].privateKey: expected an RSA private key of at least 2048 bits (the SP signs with RSA-SHA256 and decrypts with RSA-OAEP), got ${got}`;
    expect(problemsOf(writeConfig(spKey, { 'key.pem': ec.privateKey, 'cert.pem': ec.cert }))).toEqual([refusal('ec')]);
    for (const [key, got] of [[ed25519.privateKey, 'ed25519'], [rsa1024.privateKey, 'RSA 1024 bits']] as const) {
      const problems = problemsOf(writeConfig(spKey, { 'key.pem': key, 'cert.pem': rsa.cert }));
      expect(problems[0]).toBe(refusal(got));
      expect(problems.join('\n')).not.toContain('PRIVATE KEY');
    }
  });

  it('limits the unauthenticated edge by default, and checks trusted proxies and limits', () => {
    const { config } = loadConfig(writeConfig(minimal), {});
    expect(config.rateLimits).toEqual({ unauthenticated: { points: 120, durationSeconds: 60 }, graphql: { points: 600, durationSeconds: 60 }, scim: { points: 1200, durationSeconds: 60 } });
    expect(config.server.trustedProxies).toEqual([]);
    const proxies = loadConfig(writeConfig(`${minimal}  trustedProxies: [10.0.0.0/8, 192.0.2.10, "fd00::/8"]\n`), {}).config.server.trustedProxies;
    expect(proxies).toEqual(['10.0.0.0/8', '192.0.2.10', 'fd00::/8']);
    const file = writeConfig(`${minimal}  trustedProxies: [0.0.0.0/0, 10.0.0.0/33, proxy.example.com]\nrateLimits:\n  unauthenticated: { points: 0, durationSeconds: 60 }\n`);
    const expected = 'expected an IP address or CIDR block (such as 10.0.0.0/8), prefix /1 or longer';
    expect(problemsOf(file)).toEqual([
      `3: server.trustedProxies[0]: ${expected}`,
      `3: server.trustedProxies[1]: ${expected}`,
      `3: server.trustedProxies[2]: ${expected}`,
      '5: rateLimits.unauthenticated.points: expected a positive integer',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their line', () => {
    expect(problemsOf(writeConfig('server:\n  publicUrl: http://a\n  publicUrl: http://b\n'))[0]).toMatch(/^3: YAML: Map keys must be unique/);
    expect(problemsOf(writeConfig('server: [unclosed\n'))[0]).toMatch(/^\d+: YAML: /);
    expect(problemsOf(writeConfig('- just\n- a list\n'))).toEqual(['expected a YAML mapping at the top level']);
  });

  it('reports an unreadable config file', () => {
    expect(() => loadConfig('/nonexistent/portcullis.yaml')).toThrow(/cannot read file \(ENOENT\)/);
  });
});

describe('identity providers: one email domain, one IdP', () => {
  let cert: string;
  beforeAll(async () => {
    cert = (await selfSignedCertificate()).cert;
  });

  const idp = (id: string, domains?: string) =>
    [
      `  - id: ${id}`,
      `    entryPoint: https://${id}.example.net/sso`,
      `    idpIssuer: https://${id}.example.net`,
      '    idpCert: ${file:idp.pem}',
      `    spEntityId: https://sp.example.com/${id}`,
      ...(domains === undefined ? [] : [`    emailDomains: ${domains}`]),
    ].join('\n');
  const file = (...lines: string[]) => writeConfig([minimal.trimEnd(), ...lines, ''].join('\n'), { 'idp.pem': cert });
  const devIdp = ['devIdp:', '  enabled: true', '  users:', '    - { nameId: alice, email: alice@Example.com, displayName: Alice }'];

  it('lets a single IdP omit emailDomains (any domain) and lower-cases the ones given', () => {
    expect(loadConfig(file('identityProviders:', idp('corp')), {}).config.identityProviders[0]?.emailDomains).toBeUndefined();
    expect(loadConfig(file('identityProviders:', idp('corp', '[Example.COM, "*.Example.com"]')), {}).config.identityProviders[0]?.emailDomains).toEqual(['example.com', '*.example.com']);
  });

  it('requires emailDomains of every IdP beside another one, the development IdP included', () => {
    expect(problemsOf(file('identityProviders:', idp('corp'), idp('partner', '[partner.example]')))).toEqual([
      '4: identityProviders[0].emailDomains: required when several identity providers are configured: the email domains this IdP may assert',
    ]);
    expect(problemsOf(file('identityProviders:', idp('corp'), ...devIdp))).toEqual([
      '4: identityProviders[0].emailDomains: required when several identity providers are configured: the email domains this IdP may assert',
    ]);
    expect(loadConfig(file('identityProviders:', idp('corp', '[corp.example]'), ...devIdp), {}).config.devIdp?.enabled).toBe(true);
  });

  it('refuses a domain two IdPs could both assert', () => {
    expect(problemsOf(file('identityProviders:', idp('corp', '["*.example.com", example.org]'), idp('partner', '[example.com, eu.Example.com]'), ...devIdp))).toEqual([
      '15: identityProviders[1].emailDomains[1]: domain "eu.example.com" overlaps "*.example.com" of identityProviders[0] ("corp"): an email domain belongs to one IdP',
      '19: devIdp.users[0].email: domain "example.com" overlaps "example.com" of identityProviders[1] ("partner"): an email domain belongs to one IdP',
    ]);
  });

  it('refuses what is not a domain pattern', () => {
    expect(problemsOf(file('identityProviders:', idp('corp', '["*", "a.*.com", "@example.com", "example.com."]')))).toEqual(
      [0, 1, 2, 3].map((i) => `9: identityProviders[0].emailDomains[${i}]: expected an email domain such as "example.com", or "*.example.com" for its subdomains`),
    );
  });

  it('checks that roles[].members.idps names known IdPs', () => {
    const roles = ['roles:', '  - name: r', '    members: { groups: [g], idps: [corp, dev, nope] }'];
    expect(problemsOf(file('identityProviders:', idp('corp'), ...roles))).toEqual([
      '11: roles[0].members.idps[1]: unknown IdP "dev" (not in identityProviders, nor the enabled devIdp)',
      '11: roles[0].members.idps[2]: unknown IdP "nope" (not in identityProviders, nor the enabled devIdp)',
    ]);
  });
});

describe('identity providers: OIDC entries beside SAML ones', () => {
  let cert: string;
  beforeAll(async () => {
    cert = (await selfSignedCertificate()).cert;
  });

  const saml = ['  - id: corp', '    entryPoint: https://corp.example.net/sso', '    idpIssuer: https://corp.example.net', '    idpCert: ${file:idp.pem}', '    spEntityId: https://sp.example.com/corp', '    emailDomains: [corp.example]'];
  const oidc = (...lines: string[]) => ['  - id: partner', '    type: oidc', ...lines];
  const file = (...lines: string[]) => writeConfig([minimal.trimEnd(), 'identityProviders:', ...lines, ''].join('\n'), { 'idp.pem': cert, 'secret.txt': 'partner-client-secret\n' });

  it('loads a SAML entry without type as SAML, and an OIDC entry with its defaults', () => {
    const { config, secrets } = loadConfig(file(...saml, ...oidc('    issuer: https://login.partner.example', '    clientId: portcullis', '    clientSecret: ${file:secret.txt}', '    emailDomains: [partner.example]')), {});
    expect(config.identityProviders.map((idp) => [idp.id, idp.type])).toEqual([['corp', 'saml'], ['partner', 'oidc']]);
    expect(config.identityProviders[1]).toEqual({
      id: 'partner',
      type: 'oidc',
      issuer: 'https://login.partner.example',
      clientId: 'portcullis',
      clientSecret: 'partner-client-secret',
      scopes: ['openid', 'email', 'profile'],
      claims: { email: 'email', displayName: 'name' },
      emailDomains: ['partner.example'],
      requireVerifiedEmail: true,
      clockSkewSeconds: 60,
    });
    expect(secrets).toContain('partner-client-secret');
  });

  it('takes a public client (no clientSecret), http on loopback, and the groups claim', () => {
    const { config } = loadConfig(file(...oidc('    issuer: http://127.0.0.1:9000', '    clientId: portcullis', '    claims: { groups: roles }')), {});
    expect(config.identityProviders[0]).toMatchObject({ type: 'oidc', issuer: 'http://127.0.0.1:9000', claims: { email: 'email', displayName: 'name', groups: 'roles' } });
    expect(config.identityProviders[0]).not.toHaveProperty('clientSecret');
  });

  it('names what an OIDC entry lacks or gets wrong', () => {
    expect(problemsOf(file(...oidc('    clientId: portcullis')))).toEqual(['4: identityProviders[0].issuer: required']);
    expect(problemsOf(file(...oidc('    issuer: http://login.partner.example', '    clientId: portcullis', '    scopes: [email]', '    entryPoint: https://x.example/sso')))).toEqual([
      '6: identityProviders[0].issuer: expected an https URL without credentials, query or fragment (http only on a loopback address)',
      '8: identityProviders[0].scopes: expected the "openid" scope among the scopes (without it no ID token is issued)',
      '9: identityProviders[0].entryPoint: unknown key',
    ]);
    expect(problemsOf(file('  - id: partner', '    type: ldap'))).toEqual(['5: identityProviders[0].type: expected type "saml" (the default) or "oidc"']);
  });

  it('refuses email_verified as the check of an address read from another claim, unless the operator vouches for that claim', () => {
    const remapped = oidc('    issuer: https://login.partner.example', '    clientId: portcullis', '    claims: { email: preferred_username }');
    expect(problemsOf(file(...remapped))).toEqual([expect.stringMatching(/identityProviders\[0\]\.requireVerifiedEmail: email_verified vouches for the "email" claim only/)]);
    expect(loadConfig(file(...remapped, '    requireVerifiedEmail: false'), {}).config.identityProviders[0]).toMatchObject({ claims: { email: 'preferred_username' }, requireVerifiedEmail: false });
  });

  it('holds OIDC IdPs to one email domain, one IdP, and lets roles name them', () => {
    const partner = oidc('    issuer: https://login.partner.example', '    clientId: portcullis');
    expect(problemsOf(file(...saml, ...partner))).toEqual(['10: identityProviders[1].emailDomains: required when several identity providers are configured: the email domains this IdP may assert']);
    expect(problemsOf(file(...saml, ...partner, '    emailDomains: ["*.corp.example", corp.example]'))).toEqual([
      expect.stringMatching(/identityProviders\[1\]\.emailDomains\[1\]: domain "corp\.example" overlaps "corp\.example" of identityProviders\[0\] \("corp"\)/),
    ]);
    const roles = ['roles:', '  - name: r', '    members: { groups: [g], idps: [partner] }'];
    expect(loadConfig(file(...saml, ...partner, '    emailDomains: [partner.example]', ...roles), {}).config.roles[0]?.members.idps).toEqual(['partner']);
  });
});

describe('notifications: sinks', () => {
  const SECRET = 'webhook-secret-0123456789abcdef0123456789';
  const withSink = (sink: string) => `${minimal}servers:\n  - name: docs\n    transport: streamable-http\n    url: http://127.0.0.1:9000/mcp\nnotifications:\n  sinks:\n${sink}`;

  it('reads a webhook sink with its secret by reference, the defaults filled in, the secret redacted and scrubbed', async () => {
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const file = writeConfig(withSink('    - name: ops\n      type: webhook\n      url: https://hooks.example.com/portcullis\n      secret: ${env:HOOK_SECRET}\n'));
    const { config, secrets } = loadConfig(file, { HOOK_SECRET: SECRET });
    expect(config.notifications.sinks).toEqual([
      {
        name: 'ops',
        type: 'webhook',
        url: 'https://hooks.example.com/portcullis',
        secret: SECRET,
        timeoutMs: 5000,
        maxAttempts: 8,
        minSeverity: 'medium',
        events: ['access_request.created', 'access_request.reviewed', 'access_request.expired', 'access_request.cancelled', 'grant.revoked', 'anomaly.detected'],
      },
    ]);
    expect(secrets).toContain(SECRET);
    expect(JSON.stringify(redactConfig(config))).not.toContain(SECRET);
    expect(literalCredentials(config)).toContain(SECRET);
  });

  it('hides a webhook URL\'s path and query (often a bearer token) in the logged config, and scrubs them from logs', async () => {
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const { captureLogs } = await import('../support/log-capture.js');
    const TOKENED = 'hooks/T0TEAM/4f1c9e7a2b6d8e30a1c5?code=zap-9d2e7b41c6a8f350';
    const { config } = loadConfig(writeConfig(withSink(`    - name: ops\n      type: webhook\n      url: https://receiver.example.com/${TOKENED}\n      secret: ${SECRET}\n`)), {});
    const logged = JSON.stringify(redactConfig(config));
    expect(logged).toContain('"url":"https://receiver.example.com/[REDACTED]"');
    expect(logged).not.toContain('4f1c9e7a2b6d8e30a1c5');
    expect(logged).not.toContain('zap-9d2e7b41c6a8f350');
    const logs = captureLogs({ secrets: literalCredentials(config) });
    logs.logger.warn({ error: `POST https://receiver.example.com/${TOKENED} failed` }, 'webhook: delivery failed');
    expect(logs.lines.join('')).not.toContain('4f1c9e7a2b6d8e30a1c5');
    expect(logs.lines.join('')).toContain('https://receiver.example.com/');
  });

  // Without the line number: what is asserted is the key and the message.
  const problemsWith = (sink: string) => problemsOf(writeConfig(withSink(sink))).map((problem) => problem.replace(/^\d+: /, ''));

  it('refuses a short secret, plain http to another host, an unknown event type, server or sink type, and a duplicate name', () => {
    const hook = (name: string, extra: string) => `    - name: ${name}\n      type: webhook\n      url: https://hooks.example.com/x\n      secret: ${SECRET}\n${extra}`;
    expect(problemsWith('    - name: a\n      type: webhook\n      url: https://hooks.example.com/x\n      secret: short\n')).toEqual([
      'notifications.sinks[0].secret: expected at least 32 characters: a short secret lets anyone forge deliveries',
    ]);
    expect(problemsWith(`    - name: a\n      type: webhook\n      url: http://hooks.example.com/x\n      secret: ${SECRET}\n`)).toEqual([
      'notifications.sinks[0].url: expected an https URL (plain http only to a loopback address)',
    ]);
    expect(problemsWith(hook('a', '      events: [mcp.nonsense]\n')).join('\n')).toContain('notifications.sinks[0].events[0]: expected an audit event type');
    expect(problemsWith(hook('a', '      servers: [nowhere]\n'))).toEqual(['notifications.sinks[0].servers[0]: unknown server "nowhere" (not in servers)']);
    expect(problemsWith('    - name: a\n      type: pager\n')).toEqual(['notifications.sinks[0].type: expected a sink type: webhook, email or slack']);
    expect(problemsWith(hook('a', '') + hook('a', ''))).toEqual(['notifications.sinks[1].name: duplicate sink name "a"']);
  });

  it('reads email and Slack sinks with the keys every sink has, their secrets (SMTP password, webhook URL, bot token, signing secret) redacted and scrubbed', async () => {
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const PASS = 'smtp-pass-7Qm2vX9pL4rT8kW1';
    const HOOK = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX';
    const TOKEN = 'xoxb-1111-2222-abcdefabcdef';
    const SIGNING = 'slack-signing-5c1e9a7f3b2d8e40';
    const sinks =
      `    - name: mail\n      type: email\n      from: portcullis@example.com\n      smtp: { host: smtp.example.com, auth: { user: portcullis, pass: ${PASS} } }\n      servers: [docs]\n` +
      `    - name: chat\n      type: slack\n      webhookUrl: ${HOOK}\n      events: [access_request.created]\n` +
      `    - name: bot\n      type: slack\n      botToken: ${TOKEN}\n      channel: C0PORTCULL\n      signingSecret: ${SIGNING}\n      teamId: T0PORTCULL\n`;
    const { config } = loadConfig(writeConfig(withSink(sinks)), {});
    expect(config.notifications.sinks).toMatchObject([
      { name: 'mail', type: 'email', servers: ['docs'], maxAttempts: 8, minSeverity: 'medium', smtp: { port: 587, requireTLS: true } },
      { name: 'chat', type: 'slack', events: ['access_request.created'], maxAttempts: 8 },
      { name: 'bot', type: 'slack', channel: 'C0PORTCULL', apiBaseUrl: 'https://slack.com/api', teamId: 'T0PORTCULL' },
    ]);
    const redacted = JSON.stringify(redactConfig(config));
    for (const secret of [PASS, HOOK, TOKEN, SIGNING]) {
      expect(redacted).not.toContain(secret);
      expect(literalCredentials(config)).toContain(secret);
    }
    expect(problemsWith('    - name: chat\n      type: slack\n')).toEqual(['notifications.sinks[0].webhookUrl: expected exactly one of webhookUrl and botToken']);
    expect(problemsWith(`    - name: chat\n      type: slack\n      webhookUrl: ${HOOK}\n      signingSecret: ${SIGNING}\n      teamId: T0PORTCULL\n`)).toEqual([
      'notifications.sinks[0].signingSecret: deciding from Slack needs a botToken (to read the clicking user and open the reason dialog)',
    ]);
  });

  it('deciding from Slack: needs the workspace, one sink per signing secret (never named in the error), and a sign-in age of at most 30 days', () => {
    const SIGNING = 'slack-signing-5c1e9a7f3b2d8e40';
    const bot = (name: string, extra: string) => `    - name: ${name}\n      type: slack\n      botToken: xoxb-1111-2222-abcdefabcdef\n      channel: C0PORTCULL\n      signingSecret: ${SIGNING}\n${extra}`;
    expect(problemsWith(bot('bot', ''))).toEqual(["notifications.sinks[0].teamId: deciding from Slack needs the workspace's teamId (T...): only its members may decide"]);
    const twice = problemsWith(bot('bot', '      teamId: T0PORTCULL\n') + bot('other', '      teamId: T0ELSEWHERE\n'));
    expect(twice).toEqual([expect.stringMatching(/^notifications\.sinks\[1\]\.signingSecret: the same signing secret as sink "bot"/)]);
    expect(twice.join('')).not.toContain(SIGNING);
    expect(problemsWith(bot('bot', '      teamId: T0PORTCULL\n      reviewerSignInMaxAgeSeconds: 2592001\n')).join('')).toContain('notifications.sinks[0].reviewerSignInMaxAgeSeconds');
    expect(problemsWith('    - name: chat\n      type: slack\n      webhookUrl: https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX\n      reviewerSignInMaxAgeSeconds: 600\n')).toEqual([
      'notifications.sinks[0].reviewerSignInMaxAgeSeconds: reviewerSignInMaxAgeSeconds goes with signingSecret',
    ]);
    const { config } = loadConfig(writeConfig(withSink(bot('bot', '      teamId: T0PORTCULL\n      reviewerSignInMaxAgeSeconds: 2592000\n'))), {});
    expect(config.notifications.sinks[0]).toMatchObject({ teamId: 'T0PORTCULL', reviewerSignInMaxAgeSeconds: 2_592_000 });
  });

  it('accepts plain http to a loopback receiver', () => {
    const { config } = loadConfig(writeConfig(withSink(`    - name: lab\n      type: webhook\n      url: http://127.0.0.1:9999/hook\n      secret: ${SECRET}\n`)), {});
    expect(config.notifications.sinks[0]).toMatchObject({ url: 'http://127.0.0.1:9999/hook' });
  });
});

describe('audit.export', () => {
  const withExport = (sinks: string) => `${minimal}audit:\n  export:\n    sinks:\n${sinks}`;
  const problemsWith = (sinks: string) => problemsOf(writeConfig(withExport(sinks))).map((problem) => problem.replace(/^\d+: /, ''));

  it('reads every sink type with its defaults; the HEC token, OTLP headers and a TLS client key are redacted and scrubbed', async () => {
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const { issueClientCertificate, testTls } = await import('../support/certificates.js');
    const tls = await testTls();
    const client = await issueClientCertificate(tls);
    const HEC = 'hec-token-8c1d2e3f-4a5b-6c7d-8e9f';
    const OTLP = 'Bearer otlp-token-1a2b3c4d5e6f';
    const file = writeConfig(
      withExport(
        '      - { name: splunk, type: splunk-hec, url: "https://splunk.example.com:8088", token: "${env:HEC}", tls: { ca: "${file:ca.pem}" } }\n' +
          '      - { name: otel, type: otlp, url: "https://collector.example.com:4318", format: json, headers: { Authorization: "${env:OTLP}" } }\n' +
          '      - { name: syslog, type: syslog, host: siem.example.com, tls: { clientCertificate: "${file:client.pem}", clientKey: "${file:client-key.pem}" } }\n' +
          '      - { name: archive, type: file, path: audit.jsonl }\n',
      ),
      { 'ca.pem': tls.ca, 'client.pem': client.cert, 'client-key.pem': client.privateKey },
    );
    const { config, secrets } = loadConfig(file, { HEC, OTLP });
    expect(config.audit.export.sinks).toMatchObject([
      { name: 'splunk', type: 'splunk-hec', format: 'ocsf', batchSize: 500, timeoutMs: 10_000, sourcetype: 'portcullis:audit' },
      { name: 'otel', type: 'otlp', format: 'json' },
      { name: 'syslog', type: 'syslog', port: 6514, facility: 13, appName: 'portcullis' },
      { name: 'archive', type: 'file', maxBytes: 100 * 1024 * 1024, maxAgeSeconds: 86400, keep: 7 },
    ]);
    const redacted = JSON.stringify(redactConfig(config));
    for (const secret of [HEC, OTLP, client.privateKey]) {
      expect(redacted).not.toContain(secret.trim());
      expect([...secrets, ...literalCredentials(config)]).toContain(secret.trim());
    }
    // The token written literally (no reference) is scrubbed too, with and without its scheme.
    const literal = loadConfig(writeConfig(withExport(`      - { name: splunk, type: splunk-hec, url: "https://splunk.example.com", token: "${HEC}" }\n      - { name: otel, type: otlp, url: "https://c.example.com", headers: { Authorization: "${OTLP}" } }\n`)), {}).config;
    expect(literalCredentials(literal)).toEqual(expect.arrayContaining([HEC, OTLP, OTLP.slice('Bearer '.length)]));
  });

  it('refuses plain http to another host, a URL with credentials, an unknown type or format, half a client certificate, and a duplicate name', () => {
    expect(problemsWith('      - { name: a, type: splunk-hec, url: "http://splunk.example.com:8088", token: t }\n')).toEqual([
      'audit.export.sinks[0].url: expected the HEC base URL: an https URL without credentials (http only on a loopback address)',
    ]);
    expect(problemsWith('      - { name: a, type: otlp, url: "https://user:pw@collector.example.com" }\n')).toEqual([
      'audit.export.sinks[0].url: expected the OTLP/HTTP base URL: an https URL without credentials (http only on a loopback address)',
    ]);
    expect(problemsWith('      - { name: a, type: kafka }\n')).toEqual(['audit.export.sinks[0].type: expected an export sink type: splunk-hec, syslog, otlp or file']);
    expect(problemsWith('      - { name: a, type: file, path: x, format: cef }\n')).toEqual(['audit.export.sinks[0].format: expected a format: ocsf or json']);
    expect(problemsWith('      - { name: a, type: syslog, host: h, tls: { clientCertificate: "x" } }\n')).toEqual([
      'audit.export.sinks[0].tls.clientCertificate: expected a PEM-encoded X.509 certificate',
      'audit.export.sinks[0].tls.clientKey: expected clientCertificate and clientKey together',
    ]);
    expect(problemsWith('      - { name: a, type: file, path: x }\n      - { name: a, type: file, path: y }\n')).toEqual(['audit.export.sinks[1].name: duplicate export sink name "a"']);
  });
});

describe('store.redis topologies', () => {
  const withRedis = (redis: string) => `${minimal}store:\n  redis:\n${redis}`;

  it('takes Sentinels with the primary\'s name, passwords from references (redacted and scrubbed), TLS and a replica durability', async () => {
    const file = writeConfig(
      withRedis('    sentinels:\n      - { host: 10.0.0.1, port: 26379 }\n      - { host: 10.0.0.2, port: 26379 }\n    name: portcullis\n    username: broker\n    password: ${file:redis-password}\n    sentinelPassword: ${env:SENTINEL_PASSWORD}\n    tls: true\n    durability: { replicas: 1, timeoutMs: 500 }\n'),
      { 'redis-password': 'data-node-secret\n' },
    );
    const { config, secrets } = loadConfig(file, { SENTINEL_PASSWORD: 'sentinel-secret' });
    expect(config.store.redis).toMatchObject({ sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }], name: 'portcullis', username: 'broker', password: 'data-node-secret', tls: true, durability: { replicas: 1, timeoutMs: 500 } });
    expect([...secrets]).toEqual(expect.arrayContaining(['data-node-secret', 'sentinel-secret']));
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const redacted = JSON.stringify(redactConfig(config));
    expect(redacted).not.toContain('data-node-secret');
    expect(redacted).not.toContain('sentinel-secret');
    expect(literalCredentials(config)).toEqual(expect.arrayContaining(['data-node-secret', 'sentinel-secret']));
  });

  it('takes Cluster nodes', () => {
    const { config } = loadConfig(writeConfig(withRedis('    nodes: [{ host: 10.0.0.1, port: 6379 }, { host: 10.0.0.2, port: 6379 }]\n    password: literal-secret\n')), {});
    expect(config.store.redis).toMatchObject({ nodes: [{ host: '10.0.0.1', port: 6379 }, { host: '10.0.0.2', port: 6379 }], tls: false });
  });

  it('takes a private CA for Redis from a file, with TLS only, and refuses one that is not a certificate', async () => {
    const { cert } = await selfSignedCertificate('redis-ca');
    const files = { 'redis-ca.crt': cert, 'not-a-ca.crt': 'not a certificate' };
    const { config } = loadConfig(writeConfig(withRedis('    url: rediss://10.0.0.1:6380\n    ca: ${file:redis-ca.crt}\n'), files), {});
    expect(config.store.redis?.ca).toBe(cert.trim());
    expect(problemsOf(writeConfig(withRedis('    nodes: [{ host: 10.0.0.1, port: 6379 }]\n    ca: ${file:redis-ca.crt}\n'), files))).toEqual([expect.stringMatching(/store\.redis\.ca: only with TLS \(tls: true, or a rediss:\/\/ URL\)$/)]);
    expect(problemsOf(writeConfig(withRedis('    url: redis://10.0.0.1:6379\n    ca: ${file:redis-ca.crt}\n'), files))).toEqual([expect.stringMatching(/store\.redis\.ca: only with TLS/)]);
    expect(problemsOf(writeConfig(withRedis('    nodes: [{ host: 10.0.0.1, port: 6379 }]\n    tls: true\n    ca: ${file:not-a-ca.crt}\n'), files))).toEqual([expect.stringMatching(/store\.redis\.ca: expected a PEM-encoded X\.509 certificate$/)]);
  });

  it('refuses two topologies at once, Sentinels without a name, a WAIT longer than a command may take, and a prefix with braces', () => {
    expect(problemsOf(writeConfig(withRedis('    url: redis://127.0.0.1:6379\n    nodes: [{ host: 10.0.0.1, port: 6379 }]\n')))).toEqual([expect.stringMatching(/store\.redis: expected exactly one of url, sentinels \(with name\) or nodes \(a Cluster\), not url and nodes$/)]);
    expect(problemsOf(writeConfig(withRedis('    sentinels: [{ host: 10.0.0.1, port: 26379 }]\n')))).toEqual([expect.stringMatching(/store\.redis\.name: expected the primary's name/)]);
    expect(problemsOf(writeConfig(withRedis('    url: redis://127.0.0.1:6379\n    commandTimeoutMs: 1000\n    durability: { replicas: 1, timeoutMs: 1000 }\n')))).toEqual([expect.stringMatching(/store\.redis\.durability\.timeoutMs: expected less than commandTimeoutMs \(1000\)$/)]);
    expect(problemsOf(writeConfig(withRedis('    url: redis://127.0.0.1:6379\n    keyPrefix: "{p}:"\n')))).toEqual([expect.stringMatching(/store\.redis\.keyPrefix: may not contain \{ or \}/)]);
    expect(problemsOf(writeConfig(withRedis('    url: redis://127.0.0.1:6379\n    password: x\n')))).toEqual([expect.stringMatching(/store\.redis\.password: with url, put it in the URL/)]);
  });

  it('refuses a query in the URL, which ioredis reads as options (a password among them) that the logged config would show', () => {
    for (const url of ['redis://10.0.0.1:6379/0?password=query-secret-1f2e', 'rediss://10.0.0.1:6380?username=broker', 'redis://10.0.0.1:6379#x']) {
      const problems = problemsOf(writeConfig(withRedis(`    url: ${url}\n`)));
      expect(problems).toEqual([expect.stringMatching(/store\.redis\.url: expected no query in the URL: give a password as its user info \(redis:\/\/:PASSWORD@host\), other settings under store\.redis$/)]);
      expect(problems.join('')).not.toContain('query-secret-1f2e');
    }
  });
});

describe('servers: a Streamable HTTP server\'s URL', () => {
  it('has every query value hidden in the logged config, and one under a credential name scrubbed from logs (a hosted server may take its key there)', async () => {
    const { redactConfig, literalCredentials } = await import('../../server/config/redact.js');
    const { captureLogs } = await import('../support/log-capture.js');
    const KEY = 'sk-live-7c1e9a4f2b8d6e03';
    const { config } = loadConfig(writeConfig(`${minimal}servers:\n  - name: docs\n    transport: streamable-http\n    url: https://mcp.example.com/mcp?api_key=${KEY}&region=eu\n`), {});
    const logged = JSON.stringify(redactConfig(config));
    expect(logged).toContain('"url":"https://mcp.example.com/mcp?api_key=%5BREDACTED%5D&region=%5BREDACTED%5D"');
    expect(logged).not.toContain(KEY);
    expect(literalCredentials(config)).toContain(KEY);
    expect(literalCredentials(config)).not.toContain('eu');
    const logs = captureLogs({ secrets: literalCredentials(config) });
    logs.logger.warn({ err: `cannot reach https://mcp.example.com/mcp?api_key=${KEY}` }, 'upstream unreachable');
    expect(logs.lines.join('')).not.toContain(KEY);
  });
});
