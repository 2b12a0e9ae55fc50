import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { finished, runCli } from '../support/cli.js';

const CLI = ['--import', 'tsx', 'clients/cli/main.ts'];

describe('portcullis connect (stdio bridge)', () => {
  let fx: BrokerFixture;
  let token: string;
  beforeAll(async () => {
    fx = await startBroker();
    token = await fx.token();
  });
  afterAll(() => fx.close());

  it('ends with one clear line and exit 1 when no grant is active', async () => {
    const child = spawn(process.execPath, [...CLI, 'connect', 'everything', '--broker', fx.server.url], {
      env: { PATH: process.env.PATH, PORTCULLIS_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const result = await finished(child);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no active grant for this server \(403\): request access with `portcullis request <server>`/);
  });

  it('lets the official SDK client use the server over stdio through the broker', async () => {
    await fx.grant(['echo']);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [...CLI, 'connect', 'everything', '--broker', fx.server.url],
      env: { PATH: process.env.PATH ?? '', PORTCULLIS_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio-client', version: '1.0.0' });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['echo']);
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'via stdio' } })).content)).toContain('via stdio');
    await expect(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).rejects.toMatchObject({ code: -32001 });
    await client.close();
  });

  it('refuses to run without a token, saying where one comes from', async () => {
    const result = await runCli(['connect', 'everything', '--broker', fx.server.url], { XDG_CONFIG_HOME: '/nonexistent' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/NOT_SIGNED_IN: not signed in: run `portcullis login/);
  });
});

describe('portcullis connect reconnects', () => {
  it('after the broker drops the connection (upstream crash, 1011), replaying the handshake so the client carries on', async () => {
    const fx = await startBroker({
      overrides: {
        roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['crash', 'say'], maxDurationSeconds: 600, autoApprove: true }] }],
        servers: [{ name: 'everything', transport: 'stdio', command: process.execPath, args: ['--import', 'tsx', 'test/fixtures/edge-upstream.ts'] }],
      },
    });
    try {
      await fx.grant(['crash', 'say'], 600);
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [...CLI, 'connect', 'everything', '--broker', fx.server.url],
        env: { PATH: process.env.PATH ?? '', PORTCULLIS_TOKEN: await fx.token(), XDG_CONFIG_HOME: '/nonexistent' },
        stderr: 'pipe',
      });
      const client = new Client({ name: 'stdio-client', version: '1.0.0' });
      await client.connect(transport);
      await expect(client.callTool({ name: 'crash', arguments: {} })).rejects.toBeTruthy();
      await expect
        .poll(async () => JSON.stringify((await client.callTool({ name: 'say', arguments: { text: 'still here' } }).catch(() => ({ content: [] }))).content), { timeout: 10_000 })
        .toContain('still here');
      await client.close();
    } finally {
      await fx.close();
    }
  });
});

describe('portcullis mcp-config', () => {
  it.each([
    ['claude', 'mcpServers'],
    ['cursor', 'mcpServers'],
    ['vscode', 'servers'],
  ])('prints a %s entry that starts the bridge and holds no secret', async (client, key) => {
    const result = await runCli(['mcp-config', 'everything', '--broker', 'https://broker.example.com', '--client', client], { PORTCULLIS_TOKEN: 'pcl_secret_value' });
    expect(result.code).toBe(0);
    const config = JSON.parse(result.stdout) as Record<string, Record<string, { command: string; args: string[] }>>;
    expect(config[key]?.everything).toMatchObject({ command: 'portcullis', args: ['connect', 'everything', '--broker', 'https://broker.example.com/'] });
    expect(result.stdout).not.toContain('pcl_');
  });
});
