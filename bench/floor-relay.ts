/**
 * The floor (issue 22, point 3): the least a relay on Node costs per call on each door,
 * written for the bench: no authentication, no policy, no audit, no validation, each
 * session with an upstream of its own (as Portcullis runs them), frames passed through as
 * they come. What Portcullis costs over it on a door is what its own work costs there; and
 * this HTTP figure minus this WebSocket figure is the least any Node relay adds per call for
 * a node:http request and response over a WebSocket frame (the budget asks HTTP within 1.5
 * times WebSocket).
 *
 * `http-express` is the same HTTP relay as an express route behind helmet (as Portcullis'
 * app was): what express itself costs per request.
 *
 * `ws-audited` is the WebSocket relay that appends each client message to a Redis stream
 * (one XADD, acknowledged) before it forwards it: the least an audited relay costs, where
 * the audit must be durable before the message leaves (DESIGN.md). Its added latency is
 * the floor for the latency budget: the bare relay's plus one Redis round trip.
 *
 *   node --import tsx bench/floor-relay.ts ws|http|http-express <port>
 *   node --import tsx bench/floor-relay.ts ws-audited <port> <redis URL>
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import helmet from 'helmet';
import { Redis } from 'ioredis';
import { createInterface } from 'node:readline';
import { WebSocketServer } from 'ws';
import { ECHO_UPSTREAM } from './processes.js';

const [door, portText, redisUrl] = process.argv.slice(2);
const port = Number(portText);

function upstream(onLine: (line: string) => void) {
  const child = spawn(ECHO_UPSTREAM.command, ECHO_UPSTREAM.args, { cwd: ECHO_UPSTREAM.cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout }).on('line', onLine);
  return child;
}

function serveWebSocket(audit?: Redis): void {
  const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, handleProtocols: (protocols) => (protocols.has('mcp') ? 'mcp' : false) });
  const stream = `bench:floor-audit:${randomUUID()}`;
  server.on('connection', (socket) => {
    const child = upstream((line) => socket.send(line));
    // A client gone while its append was in flight: its upstream's input is already closed.
    const forward = (text: string) => void (child.stdin.writableEnded || child.stdin.write(`${text}\n`));
    // Replies on one connection come in order, so messages still leave in the order they came.
    socket.on('message', (data: Buffer) => {
      const text = data.toString();
      if (!audit) return void forward(text);
      audit.xadd(stream, '*', 'e', text).then(() => forward(text), () => socket.close(1011));
    });
    socket.on('close', () => child.stdin.end());
  });
}

/** Streamable HTTP with JSON answers: one POST per message, the answer matched by its id. */
function serveHttp(viaExpress: boolean): void {
  const sessions = new Map<string, { child: ReturnType<typeof upstream>; waiting: Map<unknown, ServerResponse> }>();
  const relay = (req: IncomingMessage, res: ServerResponse) => {
    const header = req.headers['mcp-session-id'];
    if (req.method === 'DELETE' && typeof header === 'string') {
      sessions.get(header)?.child.stdin.end();
      sessions.delete(header);
      return void res.writeHead(200).end();
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const message = JSON.parse(body) as { id?: unknown; method?: string };
      let session = typeof header === 'string' ? sessions.get(header) : undefined;
      if (session === undefined && message.method === 'initialize') {
        const waiting = new Map<unknown, ServerResponse>();
        const sessionId = randomUUID();
        const child = upstream((line) => {
          const answer = JSON.parse(line) as { id?: unknown };
          const waiter = waiting.get(answer.id);
          waiting.delete(answer.id);
          waiter?.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': sessionId }).end(line);
        });
        session = { child, waiting };
        sessions.set(sessionId, session);
      }
      if (session === undefined) return void res.writeHead(404).end();
      if (message.id === undefined) res.writeHead(202).end();
      else session.waiting.set(message.id, res);
      session.child.stdin.write(`${body}\n`);
    });
  };
  if (!viaExpress) return void createServer(relay).listen(port, '127.0.0.1');
  const app = express();
  app.use(helmet());
  app.all(['/mcp', '/mcp/:server'], relay);
  app.listen(port, '127.0.0.1');
}

if (door === 'ws') serveWebSocket();
// Commands written in one turn of the event loop leave in one write, as Portcullis' batch does.
else if (door === 'ws-audited' && redisUrl) serveWebSocket(new Redis(redisUrl, { enableAutoPipelining: true }));
else if (door === 'http' || door === 'http-express') serveHttp(door === 'http-express');
else throw new Error(`usage: floor-relay.ts ws|http|http-express <port>, or ws-audited <port> <redis URL> (not ${door})`);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
