import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { tracingChannel } from 'node:diagnostics_channel';

/** What ioredis publishes for each command (its built/tracing.js); we read the name and address, never the arguments. */
interface CommandMessage {
  command: string;
  serverAddress?: string;
  serverPort?: number;
  span?: Span;
}

/**
 * A client span per Redis command issued inside a traced operation. ioredis 6 publishes
 * every command on the `ioredis:command` tracing channel (node:diagnostics_channel), which
 * is how we see them: @opentelemetry/instrumentation-ioredis patches through a require
 * hook, and ioredis imported from our ES modules on Node 20 never passes through it (its
 * prototype stays unpatched, checked by hand), while the channel works whatever loaded it.
 * ioredis pays for building the message only while someone subscribes, that is, only
 * while tracing is on. Returns the unsubscribe.
 */
export function traceRedisCommands(tracer: Tracer): () => void {
  const channel = tracingChannel<unknown, CommandMessage>('ioredis:command');
  const handlers = {
    start(message: CommandMessage) {
      const parent = context.active();
      // A command outside any traced operation (a poll, a lease renewal) would start a trace of its own per call: none.
      if (!trace.getSpan(parent)?.isRecording()) return;
      message.span = tracer.startSpan(
        `redis ${message.command}`,
        {
          kind: SpanKind.CLIENT,
          attributes: { 'db.system.name': 'redis', 'db.operation.name': message.command, ...(message.serverAddress ? { 'server.address': message.serverAddress } : {}), ...(message.serverPort ? { 'server.port': message.serverPort } : {}) },
        },
        parent,
      );
    },
    end() {},
    asyncStart() {},
    asyncEnd(message: CommandMessage) {
      message.span?.end();
    },
    error(message: CommandMessage & { error?: unknown }) {
      message.span?.setStatus({ code: SpanStatusCode.ERROR, message: message.error instanceof Error ? message.error.name : 'error' });
    },
  };
  channel.subscribe(handlers);
  return () => channel.unsubscribe(handlers);
}
