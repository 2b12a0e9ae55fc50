import type { IncomingMessage } from 'node:http';
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import { execute, getOperationAST, subscribe } from 'graphql';
import type { ExecutionArgs, GraphQLError } from 'graphql';
import type { ConnectionInitMessage, Context, ServerOptions } from 'graphql-ws';
import { remoteContext } from '../server/tracing/spans.js';
import { markOperationErrors, nameOperationSpan } from './operation-span.js';

type Execution = NonNullable<ServerOptions['execute']>;
type TracedHooks<P extends ConnectionInitMessage['payload'], E> = Required<Pick<ServerOptions<P, E>, 'execute' | 'subscribe' | 'onSubscribe' | 'onOperation' | 'onError' | 'onClose'>>;

/**
 * The hooks to spread over graphql-ws `options` (they call its own) so that its operations
 * are spanned as HTTP ones are (server/tracing/http-spans.ts, operation-span.ts): a server
 * span per operation, in the trace the upgrade's `traceparent` names, named after the
 * operation's type and name, marked with its errors' codes. It covers onSubscribe's checks
 * (credential, limits, caps) and the execution, which runs inside it so that its audit
 * appends and store calls are its children. A subscription's span ends once its stream is
 * set up: the events that follow are not spanned (a SIEM's feed lives for days, and a span
 * is exported only when it ends).
 */
export function traceOperations<P extends ConnectionInitMessage['payload'], E extends { readonly request: IncomingMessage }>(tracer: Tracer, options: ServerOptions<P, E>): TracedHooks<P, E> {
  // Each connection's operations in progress, and the span an execution runs in (by its contextValue, made per operation).
  const open = new WeakMap<Context<P, E>, Map<string, Span>>();
  const executing = new WeakMap<object, Span>();

  const finish = (ctx: Context<P, E>, id: string, errors: readonly GraphQLError[] = []) => {
    const span = open.get(ctx)?.get(id);
    if (!span) return;
    open.get(ctx)!.delete(id);
    markOperationErrors(span, errors);
    span.end();
  };
  const inSpan =
    (run: Execution): Execution =>
    (args: ExecutionArgs) => {
      const span = typeof args.contextValue === 'object' && args.contextValue !== null ? executing.get(args.contextValue) : undefined;
      return span ? context.with(trace.setSpan(context.active(), span), () => run(args)) : run(args);
    };

  return {
    execute: inSpan(options.execute ?? execute),
    subscribe: inSpan(options.subscribe ?? subscribe),
    onSubscribe: async (ctx, id, payload) => {
      const span = tracer.startSpan('graphql', { kind: SpanKind.SERVER }, remoteContext(ctx.extra.request.headers));
      if (!open.has(ctx)) open.set(ctx, new Map());
      open.get(ctx)!.set(id, span);
      const prepared = await context.with(trace.setSpan(context.active(), span), () => options.onSubscribe?.(ctx, id, payload));
      // Refused here: ended now, as graphql-ws skips onError for an id the client completed meanwhile (a span per such pair would stay open).
      if (Array.isArray(prepared)) finish(ctx, id, prepared as readonly GraphQLError[]);
      else if (prepared) {
        const args = prepared as ExecutionArgs;
        const operation = getOperationAST(args.document, args.operationName);
        if (operation) nameOperationSpan(span, operation.operation, operation.name?.value);
        else finish(ctx, id);
        if (operation && typeof args.contextValue === 'object' && args.contextValue !== null) executing.set(args.contextValue, span);
      }
      return prepared;
    },
    onOperation: (ctx, id, payload, args, result) => {
      finish(ctx, id, Symbol.asyncIterator in result ? [] : ((result as { errors?: readonly GraphQLError[] }).errors ?? []));
      return options.onOperation?.(ctx, id, payload, args, result);
    },
    // Refused before it ran (onSubscribe's errors); a subscription's stream failing later finds its span ended.
    onError: (ctx, id, payload, errors) => {
      finish(ctx, id, errors);
      return options.onError?.(ctx, id, payload, errors);
    },
    // What never reached an answer (the socket closed first, or a hook threw and graphql-ws closed it) ends with the connection.
    onClose: (ctx, code, reason) => {
      for (const id of [...(open.get(ctx)?.keys() ?? [])]) finish(ctx, id);
      return options.onClose?.(ctx, code, reason);
    },
  };
}
