import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { saveLogin, stdioClient } from '../support/bridge-client.js';
import { runCli } from '../support/cli.js';

type Entry = { type?: string; command: string; args: string[] };
const KEYS = { claude: 'mcpServers', cursor: 'mcpServers', vscode: 'servers' } as const;

async function printedEntry(client: keyof typeof KEYS, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Entry> {
  const result = await runCli(['mcp-config', ...args, '--client', client], env);
  expect(result.code, result.stderr).toBe(0);
  const config = JSON.parse(result.stdout) as Record<string, Record<string, Entry>>;
  const entries = Object.values(config[KEYS[client]] ?? {});
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

describe('portcullis mcp-config prints entries that run as printed', () => {
  let fx: BrokerFixture;
  /** A home with a login in it, as the person's own would be. */
  let home: string;
  beforeAll(async () => {
    // The entry starts the installed CLI (bin/portcullis.js runs dist/), as a client would.
    await promisify(execFile)(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json']);
    fx = await startBroker();
    await fx.grant(['echo']);
    home = mkdtempSync(join(tmpdir(), 'portcullis-home-'));
    saveLogin(join(home, '.config'), fx.server.url, await fx.token());
  }, 180_000);
  afterAll(() => fx.close());

  /** Starts the entry the way a desktop client does: no shell, no PATH of the person's, another working directory. */
  const runEntry = (entry: Entry) => stdioClient({ command: entry.command, args: entry.args, env: { HOME: home, PATH: '/nonexistent' }, cwd: tmpdir() });

  it.each(['claude', 'cursor', 'vscode'] as const)('a %s entry starts the installed bridge, and a tool call goes through', async (kind) => {
    const entry = await printedEntry(kind, ['everything', '--broker', fx.server.url]);
    expect(entry).toMatchObject({ command: process.execPath, args: [resolve('bin/portcullis.js'), 'connect', 'everything', '--broker', `${fx.server.url}/`] });
    if (kind === 'vscode') expect(entry.type).toBe('stdio');
    const { client, transport, stderr } = runEntry(entry);
    await client.connect(transport).catch((error: Error) => expect.fail(`${error.message}\n${stderr()}`));
    expect(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: `from ${kind}` } })).content)).toContain(`from ${kind}`);
    await client.close();
  });

  it('an --all entry bridges to every granted server', async () => {
    const entry = await printedEntry('claude', ['--all', '--broker', fx.server.url]);
    expect(entry.args.slice(1)).toEqual(['connect', '--all', '--broker', `${fx.server.url}/`]);
    const { client, transport } = runEntry(entry);
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['everything__echo']);
    await client.close();
  });

  it('takes the program and its arguments separately', async () => {
    const entry = await printedEntry('claude', ['everything', '--broker', fx.server.url, '--command', 'node', '--arg', '/opt/portcullis/bin/portcullis.js']);
    expect(entry).toEqual({ command: 'node', args: ['/opt/portcullis/bin/portcullis.js', 'connect', 'everything', '--broker', `${fx.server.url}/`] });
    // A relative path would be looked up from the client's working directory.
    expect((await printedEntry('claude', ['everything', '--broker', fx.server.url, '--command', './bin/portcullis.js'])).command).toBe(resolve('bin/portcullis.js'));
  });

  it('refuses a whole command line in --command, which a client would run as one file name', async () => {
    const result = await runCli(['mcp-config', 'everything', '--broker', fx.server.url, '--command', 'node /opt/portcullis/bin/portcullis.js']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('INVALID_ARGUMENT: --command names one program, not a command line: give its arguments with --arg');
  });

  it('holds no secret', async () => {
    const result = await runCli(['mcp-config', 'everything', '--broker', 'https://broker.example.com'], { PORTCULLIS_TOKEN: 'pcl_secret_value' });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('pcl_');
  });
});

describe('portcullis mcp-config --transport http prints the URL form (issue 15, item 8)', () => {
  const BROKER = 'https://broker.example.com/portcullis';
  const print = async (args: string[]) => {
    const result = await runCli(['mcp-config', ...args, '--broker', BROKER]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim();
  };

  it('gives Claude Code the command that adds the server by URL, its default transport', async () => {
    expect(await print(['everything', '--client', 'claude-code'])).toBe(`claude mcp add --transport http everything ${BROKER}/mcp/everything`);
    expect(await print(['--all', '--client', 'claude-code'])).toBe(`claude mcp add --transport http portcullis ${BROKER}/mcp`);
  });

  it('gives VS Code an "http" server and Cursor a "url", with no secret and no local program', async () => {
    expect(JSON.parse(await print(['everything', '--client', 'vscode', '--transport', 'http']))).toEqual({ servers: { everything: { type: 'http', url: `${BROKER}/mcp/everything` } } });
    expect(JSON.parse(await print(['--all', '--client', 'cursor', '--transport', 'http']))).toEqual({ mcpServers: { portcullis: { url: `${BROKER}/mcp` } } });
  });

  it('keeps the stdio bridge the default for the other clients, and Claude Code can still ask for it', async () => {
    expect(JSON.parse(await print(['everything', '--client', 'cursor'])).mcpServers.everything.args).toContain('connect');
    expect(JSON.parse(await print(['everything', '--client', 'claude-code', '--transport', 'stdio'])).mcpServers.everything.args).toContain('connect');
  });

  it('refuses a broker URL that login and connect refuse: plain http past this computer, credentials or a query in it', async () => {
    for (const transport of ['http', 'stdio']) {
      const plain = await runCli(['mcp-config', 'everything', '--broker', 'http://broker.example.com', '--client', 'cursor', '--transport', transport]);
      expect(plain.code).toBe(1);
      expect(plain.stdout).toBe('');
      expect(plain.stderr).toContain('INSECURE_BROKER_URL');
      const userinfo = await runCli(['mcp-config', 'everything', '--broker', 'https://u:p@broker.example.com/?x=1', '--client', 'cursor', '--transport', transport]);
      expect(userinfo.code).toBe(1);
      expect(userinfo.stdout).toBe('');
      expect(userinfo.stderr).toContain('INVALID_ARGUMENT');
    }
    const local = await runCli(['mcp-config', 'everything', '--broker', 'http://127.0.0.1:8080', '--client', 'cursor', '--transport', 'http']);
    expect(local.code).toBe(0);
    expect(local.stdout).toContain('http://127.0.0.1:8080/mcp/everything');
  });

  it('says where Claude Desktop takes a URL, and refuses stdio options with a URL', async () => {
    const desktop = await runCli(['mcp-config', 'everything', '--broker', BROKER, '--transport', 'http']);
    expect(desktop.code).toBe(1);
    expect(desktop.stderr).toContain(`Connectors`);
    expect(desktop.stderr).toContain(`${BROKER}/mcp/everything`);
    const mixed = await runCli(['mcp-config', 'everything', '--broker', BROKER, '--client', 'cursor', '--transport', 'http', '--command', 'node']);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('INVALID_ARGUMENT: --command and --arg belong to a stdio entry');
  });
});
