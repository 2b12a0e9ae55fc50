import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { SessionCore } from '../../broker/core/session-core.js';
import { HttpSession } from '../../broker/edges/http-session.js';
import { SseStream } from '../../broker/edges/sse.js';
import { parseFrame } from '../../broker/jsonrpc.js';
import type { Principal } from '../../server/identity/principal.js';
import { alice } from '../stores/store-contract.js';

/** A response whose client left while its request was checked: destroyed, and its 'close' already gone by. */
function goneResponse(): ServerResponse {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  res.destroy();
  return res;
}

describe('a response whose client left before the session took it', () => {
  it('is a closed SSE stream from the start: no keep-alive comments, no events written', async () => {
    const res = goneResponse();
    const write = vi.spyOn(res, 'write');
    const stream = new SseStream(res, 5, () => {});
    expect(stream.isOpen()).toBe(false);
    stream.event('{"jsonrpc":"2.0","method":"notifications/message"}', 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(write).not.toHaveBeenCalled();
  });

  it('holds no POST answer open: the session still idles out', async () => {
    const principal: Principal = { user: alice, roles: [], scopes: new Set(['mcp']), credential: { kind: 'token', id: 't1', expiresAt: Date.now() + 600_000 } };
    const session = new HttpSession(principal, '/mcp/a', { idleTimeoutMs: 20, keepAliveMs: 5 }, () => {});
    const end = vi.fn(async () => {});
    session.core = { receive: () => {}, end } as unknown as SessionCore;
    const text = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}';
    session.post(goneResponse(), [{ text, parsed: parseFrame(text), awaits: { id: 1, initialize: false } }], true, false);
    await vi.waitFor(() => expect(end).toHaveBeenCalledWith(1000, 'idle timeout', null));
  });
});
