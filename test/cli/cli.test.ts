import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../support/certificates.js';
import { finished, runCli, spawnCli, waitForStderr } from '../support/cli.js';
import { EXAMPLE_SECRETS, exampleConfigFixture } from '../support/example-config.js';

describe('portcullis --help', () => {
  it('lists the commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/serve \[options\]/);
    expect(stdout).toMatch(/check-config <file>/);
    for (const command of ['login', 'logout', 'whoami', 'servers', 'request', 'requests', 'approve', 'deny', 'cancel', 'grants', 'revoke', 'tokens', 'token', 'tools']) {
      expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });
});

describe('portcullis check-config', () => {
  it('exits 0 on the documented example and prints no secret', async () => {
    const { file, env } = await exampleConfigFixture();
    const result = await runCli(['check-config', file], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/valid \(1 identity provider, 2 MCP servers, 3 roles, Redis store\)/);
    for (const secret of Object.values(EXAMPLE_SECRETS)) expect(result.stdout + result.stderr).not.toContain(secret);
  });

  it('exits 2 and lists every problem with its key path', async () => {
    const { file } = await exampleConfigFixture();
    const result = await runCli(['check-config', file], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/invalid configuration \(3 problems\)/);
    expect(result.stderr).toMatch(/servers\[0\]\.env\.EXAMPLE_API_KEY: environment variable EVERYTHING_API_KEY is not set/);
    expect(result.stderr).toMatch(/servers\[1\]\.headers\.Authorization: environment variable REMOTE_DOCS_TOKEN is not set/);
    expect(result.stderr).toMatch(/audit\.export\.sinks\[0\]\.token: environment variable SPLUNK_HEC_TOKEN is not set/);
  });
});

describe('portcullis check-config with secrets in fields that fail', () => {
  it('never prints a value resolved from ${file:...} or ${env:...}, whichever check quotes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-'));
    const secrets = {
      'name.txt': 'file-secret-name-3c9e',
      'domain.txt': 'file-secret-domain.example',
      'url.txt': 'ftp://file-secret-url-51aa',
    };
    for (const [name, value] of Object.entries(secrets)) writeFileSync(join(dir, name), `${value}\n`);
    writeFileSync(join(dir, 'idp.pem'), (await selfSignedCertificate()).cert);
    const env = { SERVER: 'env-secret-server-8d01', IDP: 'env-secret-idp-77b2', DOMAIN: '  File-Secret-Domain.EXAMPLE ', ROLE: 'env-secret-role-90fe' };
    const idp = (id: string, domain: string) =>
      `  - { id: ${id}, entryPoint: "https://${id}.example.net/sso", idpIssuer: "https://${id}.example.net", idpCert: "\${file:idp.pem}", spEntityId: "https://sp/${id}", emailDomains: ["${domain}"] }`;
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      [
        'server: { publicUrl: "${file:url.txt}" }',
        'identityProviders:',
        idp('corp', '${file:domain.txt}'),
        idp('partner', '${env:DOMAIN}'),
        'servers:',
        '  - { name: "${file:name.txt}", transport: stdio, command: x }',
        '  - { name: "${file:name.txt}", transport: stdio, command: y }',
        'roles:',
        '  - name: "${env:ROLE}"',
        '    members: { groups: [g], idps: ["${env:IDP}"] }',
        '    request: [{ server: "${env:SERVER}", tools: ["*"], maxDurationSeconds: 60 }]',
        '  - { name: "${env:ROLE}", members: { groups: [g] } }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['check-config', file], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/invalid configuration \(6 problems\)/);
    for (const problem of [
      /:1: server\.publicUrl: expected an http\(s\) URL without credentials/,
      /:4: identityProviders\[1\]\.emailDomains\[0\]: domain "\[REDACTED\]" overlaps "\[REDACTED\]" of identityProviders\[0\] \("corp"\)/,
      /:7: servers\[1\]\.name: duplicate server name "\[REDACTED\]"/,
      /:10: roles\[0\]\.members\.idps\[0\]: unknown IdP "\[REDACTED\]"/,
      /:11: roles\[0\]\.request\[0\]\.server: unknown server "\[REDACTED\]"/,
      /:12: roles\[1\]\.name: duplicate role name "\[REDACTED\]"/,
    ]) {
      expect(result.stderr).toMatch(problem);
    }
    const out = (result.stdout + result.stderr).toLowerCase();
    for (const secret of [...Object.values(secrets), ...Object.values(env)]) expect(out).not.toContain(secret.trim().toLowerCase());
  });
});

describe('portcullis check-config warnings', () => {
  it('warns (check-config: exit 0; serve: logged, starts) of a role any IdP\'s group confers when there are several IdPs, with no resolved reference in the line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-warn-'));
    writeFileSync(join(dir, 'idp.pem'), (await selfSignedCertificate()).cert);
    const idp = (id: string, domain: string) =>
      `  - { id: ${id}, entryPoint: "https://x.example.net/sso", idpIssuer: "https://x.example.net/${domain}", idpCert: "\${file:idp.pem}", spEntityId: "https://sp/${domain}", emailDomains: ["${domain}"] }`;
    const file = join(dir, 'portcullis.yaml');
    const config = (roles: string[]) =>
      [
        'server: { publicUrl: "https://portcullis.example.com" }',
        'identityProviders:',
        idp('corp', 'corp.example'),
        idp('"${env:PARTNER}"', 'partner.example'),
        'servers:',
        '  - { name: docs, transport: stdio, command: x }',
        'roles:',
        ...roles,
        '',
      ].join('\n');
    writeFileSync(file, config(['  - { name: auditors, members: { groups: [security] }, audit: true }', '  - { name: corp-only, members: { groups: [eng], idps: [corp] } }', '  - { name: by-email, members: { emails: [kate@corp.example] } }']));
    const env = { PARTNER: 'partner-idp-secret-id' };
    const warned = await runCli(['check-config', file], env);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/valid \(2 identity providers/);
    const lines = warned.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(lines).toEqual([
      `portcullis: warning: ${file}:8: roles[0].members.groups: a group of these names from any of the 2 IdPs (corp, [REDACTED]) confers this role: name the IdPs it trusts in members.idps`,
    ]);
    const server = spawnCli(['serve', '--config', file], env);
    const served = finished(server);
    await waitForStderr(server, /listening on/);
    server.kill('SIGTERM');
    const logged = (await served).stdout.split('\n').filter((line) => line.includes('"level":40'));
    expect(logged.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ path: 'roles[0].members.groups', line: 8, msg: 'configuration: a group of these names from any of the 2 IdPs (corp, [REDACTED]) confers this role: name the IdPs it trusts in members.idps' }),
    ]);
    writeFileSync(file, config(['  - { name: auditors, members: { groups: [security], idps: [corp] }, audit: true }']));
    const quiet = await runCli(['check-config', file], env);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/warning/);
  });
});

describe('portcullis serve', () => {
  const configWithSecrets = () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-serve-'));
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(
      file,
      [
        'server: { host: 127.0.0.1, port: 0, publicUrl: "http://127.0.0.1:8080" }',
        'store: { dataDir: ./data }',
        'logging: { level: trace }',
        'servers:',
        '  - name: docs',
        '    transport: streamable-http',
        '    url: http://127.0.0.1:9/mcp',
        '    headers: { Authorization: "Bearer ${env:DOCS_TOKEN}" }',
        '',
      ].join('\n'),
    );
    return file;
  };

  it('refuses to start on an invalid config: exit 2, nothing listens', async () => {
    const { file } = await exampleConfigFixture();
    const result = await runCli(['serve', '--config', file], {});
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/listening/);
  });

  it('refuses a second instance on the same embedded dataDir with one clear line and exit 1', async () => {
    const file = configWithSecrets();
    const env = { DOCS_TOKEN: 'docs-token-for-lock-test' };
    const first = spawnCli(['serve', '--config', file], env);
    const firstDone = finished(first);
    await waitForStderr(first, /listening on/);
    const second = await runCli(['serve', '--config', file], env);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^portcullis: DATA_DIR_LOCKED: .* is in use by process \d+ on \S+; several instances need the Redis store \(remove .*portcullis\.lock only if that process is gone\)\n$/m);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    first.kill('SIGTERM');
    expect((await firstDone).code).toBe(0);
  });

  it('starts, says where it listens, serves, and stops cleanly on SIGTERM without logging a secret', async () => {
    const secret = 'docs-token-5f1c9a0e7b3d';
    const child = spawnCli(['serve', '--config', configWithSecrets()], { DOCS_TOKEN: secret });
    const done = finished(child);
    const [, url] = await waitForStderr(child, /listening on (http:\/\/\S+)/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const gql = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ identityProviders { id } }"}' });
    expect(await gql.json()).toEqual({ data: { identityProviders: [] } });
    child.kill('SIGTERM');
    const result = await done;
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.stdout).toMatch(/"msg":"stopped"/);
    // The effective configuration is logged at debug level, credentials redacted.
    expect(result.stdout).toMatch(/"headers":\{"Authorization":"\[REDACTED\]"\}/);
    expect(result.stdout + result.stderr).not.toContain(secret);
  });
});
