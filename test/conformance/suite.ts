/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`), run against a
 * server URL. It needs Node 22, while the project stays on Node 20: both are installed
 * from npm into a cache folder once, and the suite runs with that Node.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const CONFORMANCE_VERSION = '0.1.16';
const NODE_MAJOR = '22';

/** Per scenario, the checks that passed and failed. */
export type SuiteResult = Map<string, { passed: number; failed: number }>;

/**
 * The cache folder with Node 22 and the suite in it: PORTCULLIS_CACHE, else the checkout's
 * own node_modules/.cache (always writable where `npm ci` ran, gone with node_modules).
 */
export async function installConformance(cache = join(process.env.PORTCULLIS_CACHE ?? fileURLToPath(new URL('../../node_modules/.cache/portcullis', import.meta.url)), `conformance-${CONFORMANCE_VERSION}`)): Promise<{ node: string; cli: string }> {
  const node = join(cache, 'node_modules', '.bin', 'node');
  const cli = join(cache, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
  if (!existsSync(node) || !existsSync(cli)) {
    mkdirSync(cache, { recursive: true });
    await run('npm', ['install', '--prefix', cache, '--no-audit', '--no-fund', '--no-save', `node@${NODE_MAJOR}`, `@modelcontextprotocol/conformance@${CONFORMANCE_VERSION}`], { timeout: 300_000 });
  }
  const { stdout } = await run(node, ['--version']);
  if (!stdout.startsWith(`v${NODE_MAJOR}.`)) throw new Error(`expected Node ${NODE_MAJOR} in ${cache}, found ${stdout.trim()}`);
  return { node, cli };
}

/** Every server scenario of the suite against `url`, as its summary reports them. */
export async function runSuite(suite: { node: string; cli: string }, url: string, workDir: string): Promise<SuiteResult> {
  mkdirSync(workDir, { recursive: true });
  // The suite exits 1 when a scenario fails; its summary is what we compare.
  const { stdout } = await run(suite.node, [suite.cli, 'server', '--url', url], { cwd: workDir, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const result: SuiteResult = new Map();
  for (const [, name, passed, failed] of stdout.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gmu)) result.set(name!, { passed: Number(passed), failed: Number(failed) });
  if (result.size === 0) throw new Error(`the conformance suite reported no scenario for ${url}:\n${stdout.slice(-2000)}`);
  return result;
}

/** Scenarios that pass against the server directly but not through the broker. */
export function regressions(direct: SuiteResult, broker: SuiteResult): string[] {
  return [...direct].filter(([name, d]) => d.failed === 0 && (broker.get(name)?.failed ?? 1) > 0).map(([name]) => name);
}

/** Both columns, a scenario a line. */
export function report(direct: SuiteResult, broker: SuiteResult): string {
  const cell = (r: { passed: number; failed: number } | undefined) => (r === undefined ? 'absent' : `${r.failed === 0 ? 'pass' : 'FAIL'} ${r.passed}/${r.passed + r.failed}`);
  const names = [...new Set([...direct.keys(), ...broker.keys()])];
  const width = Math.max(...names.map((n) => n.length), 'SCENARIO'.length);
  return [`${'SCENARIO'.padEnd(width)}  ${'DIRECT'.padEnd(12)}  THROUGH PORTCULLIS`, ...names.map((n) => `${n.padEnd(width)}  ${cell(direct.get(n)).padEnd(12)}  ${cell(broker.get(n))}`)].join('\n');
}

/**
 * A loopback proxy that adds the bearer token to every request: the suite's client sends
 * no credential, and the broker serves nobody without one. Everything else (method,
 * path, headers, the streams both ways) passes as it is.
 */
export async function bearerProxy(target: string, token: string): Promise<{ url: string; close: () => Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    // A Host of the suite's own choosing (its DNS-rebinding scenario) reaches the broker as sent.
    const host = req.headers.host === own ? upstream.host : req.headers.host;
    const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: upstream.pathname + query, headers: { ...req.headers, host, authorization: `Bearer ${token}` } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    res.on('close', () => forwarded.destroy());
    req.pipe(forwarded);
  });
  let own = '';
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  own = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url: `http://${own}/mcp`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
