import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { closeReason } from '../../broker/client-link.js';

describe('close reasons', () => {
  it('keeps a short reason and cuts a long one to the 123 bytes a close frame allows', async () => {
    expect(closeReason('grant revoked: done')).toBe('grant revoked: done');
    const long = closeReason(`upstream failed: ${'é'.repeat(200)}`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.startsWith('upstream failed: éé')).toBe(true);
    expect(long.endsWith('…')).toBe(true);

    // ws itself throws on a longer reason: the cut one goes through to the peer.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    wss.on('connection', (ws) => ws.close(4403, long));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
    const [code, reason] = await new Promise<[number, string]>((resolve) => client.once('close', (c, r) => resolve([c, r.toString()])));
    expect([code, reason]).toEqual([4403, long]);
    wss.close();
  });
});
