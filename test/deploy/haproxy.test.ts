import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { testTls } from '../support/certificates.js';
import { checkHaproxyConfig, describeWithHaproxy, startHaproxy } from '../support/haproxy.js';
import type { HaproxyHandle } from '../support/haproxy.js';
import { freePort } from '../support/redis-server.js';

const SHIPPED = readFileSync('infra/compose/haproxy.cfg', 'utf8');
const BROKERS = ['broker-1', 'broker-2'];

/** The shipped configuration with one part swapped, failing loudly if that part is no longer there as expected. */
function swap(text: string, from: string, to: string): string {
  expect(text.split(from), `haproxy.cfg holds "${from}" once`).toHaveLength(2);
  return text.replace(from, to);
}

function writeConfig(dir: string, text: string): string {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text);
  return file;
}

/** A stand-in broker: /readyz as told, Streamable HTTP session ids it makes, a WebSocket endpoint; it records what it was sent. */
class StandIn {
  ready = true;
  readonly seen: IncomingHttpHeaders[] = [];
  private sessions = 0;
  readonly server: Server;

  constructor(readonly name: string) {
    this.server = createServer((req, res) => {
      if (req.url === '/readyz') return void res.writeHead(this.ready ? 200 : 503).end();
      this.seen.push(req.headers);
      const session = req.headers['mcp-session-id'];
      // An initialize (no session yet) gets a fresh id, as the broker answers it.
      const headers = session === undefined ? { 'mcp-session-id': `${this.name}.${++this.sessions}` } : {};
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({ servedBy: this.name }));
    });
    const wss = new WebSocketServer({ server: this.server });
    wss.on('connection', (socket) => socket.send(this.name));
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }
}

describeWithHaproxy('the HAProxy configuration (infra/compose/haproxy.cfg)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-haproxy-'));
  const standIns = BROKERS.map((name) => new StandIn(name));
  let port: number;
  let haproxy: HaproxyHandle;
  let ca: string;

  beforeAll(async () => {
    const tls = await testTls();
    ca = tls.ca;
    writeFileSync(join(dir, 'tls.pem'), `${tls.server.cert}\n${tls.server.privateKey}\n`);
    port = await freePort();
    // As shipped, but on loopback: TLS on a free port, the brokers on theirs.
    let text = swap(swap(SHIPPED, '/run/secrets/tls.pem', join(dir, 'tls.pem')), 'bind :8443', `bind 127.0.0.1:${port}`);
    for (const standIn of standIns) {
      const brokerPort = await freePort();
      await standIn.listen(brokerPort);
      text = swap(text, `server ${standIn.name} ${standIn.name}:8080`, `server ${standIn.name} 127.0.0.1:${brokerPort}`);
    }
    haproxy = await startHaproxy(writeConfig(join(dir), text), port);
  });

  afterAll(async () => {
    await haproxy?.stop();
    for (const standIn of standIns) standIn.server.close();
  });

  const dispatcher = () => new Agent({ connect: { ca } });
  const post = async (headers: Record<string, string> = {}) => {
    const response = await fetch(`https://127.0.0.1:${port}/mcp`, { method: 'POST', headers, body: '{}', dispatcher: dispatcher() });
    const { servedBy } = (await response.json()) as { servedBy: string };
    return { servedBy, session: response.headers.get('mcp-session-id') };
  };

  it('passes `haproxy -c` as shipped, leaving only the compose service names unresolved here', () => {
    const file = writeConfig(mkdtempSync(join(tmpdir(), 'portcullis-haproxy-check-')), swap(SHIPPED, '/run/secrets/tls.pem', join(dir, 'tls.pem')));
    const { status, output } = checkHaproxyConfig(file);
    expect(status, output).toBe(0);
    const warnings = output.split('\n').filter((line) => line.includes('[WARNING]'));
    expect(warnings.map((line) => /could not resolve address '([^']+)'/.exec(line)?.[1])).toEqual(BROKERS);
  });

  it('keeps each Streamable HTTP session on the instance that created it, and spreads new sessions', async () => {
    const created = [await post(), await post(), await post(), await post()];
    expect(new Set(created.map((c) => c.servedBy))).toEqual(new Set(BROKERS));
    // Last first: round robin alone would send each first follow-up elsewhere, so only the
    // id learnt from the answer (stick store-response) keeps it on its instance.
    for (const { servedBy, session } of created.reverse()) {
      for (let i = 0; i < 3; i++) expect((await post({ 'mcp-session-id': session! })).servedBy).toBe(servedBy);
    }
  });

  it('sends nothing new to an instance whose /readyz answers 503, and takes it back when it is ready again', async () => {
    standIns[1]!.ready = false;
    await expect.poll(async () => new Set([(await post()).servedBy, (await post()).servedBy]), { timeout: 15_000 }).toEqual(new Set(['broker-1']));
    standIns[1]!.ready = true;
    await expect.poll(async () => new Set([(await post()).servedBy, (await post()).servedBy]), { timeout: 15_000 }).toEqual(new Set(BROKERS));
  });

  it('passes WebSocket upgrades through to a broker', async () => {
    const socket = new WebSocket(`wss://127.0.0.1:${port}/mcp/ws/everything`, { ca });
    const first = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data) => resolve(String(data)));
      socket.once('error', reject);
    });
    socket.close();
    expect(BROKERS).toContain(first);
  });

  it('tells the brokers the scheme and the client address, and keeps /metrics off the public side', async () => {
    await post();
    const last = standIns.flatMap((s) => s.seen).at(-1)!;
    expect(last['x-forwarded-proto']).toBe('https');
    expect(last['x-forwarded-for']).toBe('127.0.0.1');
    for (const path of ['/metrics', '/METRICS', '/Metrics/x']) {
      const metrics = await fetch(`https://127.0.0.1:${port}${path}`, { dispatcher: dispatcher() });
      expect(metrics.status, path).toBe(404);
    }
  });
});
