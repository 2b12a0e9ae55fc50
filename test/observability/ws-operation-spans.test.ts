import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { buildSchema, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { traceOperations } from '../../schema/ws-operation-spans.js';

describe('graphql-ws operation spans', () => {
  it('ends the span of an operation refused in onSubscribe even when the client completed it meanwhile (no span left open until the socket closes)', async () => {
    let started = 0;
    let ended = 0;
    const counting: SpanProcessor = { onStart: () => void started++, onEnd: () => void ended++, forceFlush: async () => {}, shutdown: async () => {} };
    const tracer = new BasicTracerProvider({ spanProcessors: [counting] }).getTracer('test');
    const options = {
      schema: buildSchema('type Query { hello: String }'),
      // Refuses every operation after an await, as a limit, a cap or a credential check does.
      onSubscribe: async () => {
        await Promise.resolve();
        return [new GraphQLError('refused', { extensions: { code: 'LIMIT' } })];
      },
    };
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const server = useServer({ ...options, ...traceOperations(tracer, options as never) } as never, wss);
    await new Promise((resolve) => wss.once('listening', resolve));
    const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, 'graphql-transport-ws');
    try {
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => ws.once('message', resolve));
      // graphql-ws skips onError for an id the client completed while onSubscribe ran.
      for (let i = 0; i < 200; i++) {
        ws.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query: '{ hello }' } }));
        ws.send(JSON.stringify({ id: String(i), type: 'complete' }));
      }
      await expect.poll(() => started).toBe(200);
      await expect.poll(() => ended).toBe(200);
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      ws.close();
      await server.dispose();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
