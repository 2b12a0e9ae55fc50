/**
 * The relays Portcullis is compared with (issue 22): supergateway 4.0.0 and mcp-proxy 6.7.19
 * (dev dependencies), each in its own process in front of the bench's minimal echo
 * upstream over stdio. Neither authenticates a person or keeps an audit trail. And the
 * floor on each door (bench/floor-relay.ts): the least a relay on Node costs per call.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ECHO_UPSTREAM, freePort, listening, REPO_ROOT, stopChild } from './processes.js';
import type { Endpoint } from './raw-clients.js';

export type PeerKind = 'supergateway-ws' | 'supergateway-http' | 'mcp-proxy' | 'floor-ws' | 'floor-http' | 'floor-http-express' | 'floor-ws-audited';

export interface PeerProcess {
  readonly pid: number;
  readonly endpoint: Endpoint;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);
const binOf = (pkg: string, bin: string) => join(dirname(require.resolve(`${pkg}/package.json`)), bin);
const SUPERGATEWAY = binOf('supergateway', 'dist/index.js');
const MCP_PROXY = binOf('mcp-proxy', 'dist/bin/mcp-proxy.mjs');

/** supergateway takes the upstream as one shell command line. */
const ECHO_COMMAND_LINE = [ECHO_UPSTREAM.command, ...ECHO_UPSTREAM.args].map((part) => `'${part}'`).join(' ');

/**
 * How each peer is started, with its defaults otherwise: supergateway's WebSocket mode
 * shares one upstream between all its clients (it has no other); its Streamable HTTP mode
 * runs `--stateful`, one upstream per MCP session (stateless spawns one per request);
 * mcp-proxy multiplexes every session onto one upstream (by design, it has no other mode).
 */
function commandFor(kind: PeerKind, port: number, redisUrl: string): { args: string[]; endpoint: Endpoint } {
  const url = (path: string, scheme = 'http') => `${scheme}://127.0.0.1:${port}${path}`;
  switch (kind) {
    case 'supergateway-ws':
      return { args: [SUPERGATEWAY, '--stdio', ECHO_COMMAND_LINE, '--outputTransport', 'ws', '--port', String(port), '--logLevel', 'none'], endpoint: { transport: 'ws', url: url('/message', 'ws') } };
    case 'supergateway-http':
      return { args: [SUPERGATEWAY, '--stdio', ECHO_COMMAND_LINE, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'], endpoint: { transport: 'http', url: url('/mcp') } };
    case 'floor-ws':
    case 'floor-ws-audited':
    case 'floor-http':
    case 'floor-http-express': {
      const door = kind.slice('floor-'.length);
      const args = ['--import', 'tsx', join(REPO_ROOT, 'bench/floor-relay.ts'), door, String(port), ...(door === 'ws-audited' ? [redisUrl] : [])];
      return { args, endpoint: door.startsWith('ws') ? { transport: 'ws', url: url('/', 'ws') } : { transport: 'http', url: url('/mcp') } };
    }
    case 'mcp-proxy':
      return { args: [MCP_PROXY, '--port', String(port), '--host', '127.0.0.1', '--server', 'stream', '--', ECHO_UPSTREAM.command, ...ECHO_UPSTREAM.args], endpoint: { transport: 'http', url: url('/mcp') } };
  }
}

/** A peer relay on a free loopback port, ready once it accepts connections; the audited floor writes to the bench's Redis. */
export async function startPeer(kind: PeerKind, redisUrl: string): Promise<PeerProcess> {
  const port = await freePort();
  const { args, endpoint } = commandFor(kind, port, redisUrl);
  // stdin stays a pipe: supergateway ends when it closes, so a runner that dies takes it along.
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'inherit'] });
  await listening(port, child);
  return { pid: child.pid!, endpoint, stop: () => stopChild(child) };
}
