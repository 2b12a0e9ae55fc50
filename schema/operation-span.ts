import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError, OperationTypeNode } from 'graphql';
import { PortcullisError } from '../server/errors.js';
import type { GraphQLContext } from './context.js';

/**
 * Names the request's span (server/tracing/http-spans.ts) after its operation once Apollo
 * resolved it, and marks it with the codes of its errors.
 */
export const operationSpan: ApolloServerPlugin<GraphQLContext> = {
  requestDidStart: async () => ({
    didResolveOperation: async ({ operation, operationName }) => {
      const span = trace.getActiveSpan();
      if (span && operation) nameOperationSpan(span, operation.operation, operationName);
    },
    didEncounterErrors: async ({ errors }) => {
      const span = trace.getActiveSpan();
      if (span) markOperationErrors(span, errors);
    },
  }),
};

/** An operation's span, over HTTP or graphql-ws: named by the operation's type and name, never its variables or document. */
export function nameOperationSpan(span: Span, type: OperationTypeNode, name: string | null | undefined): void {
  span.updateName(`graphql.${type}${name ? ` ${name}` : ''}`);
  span.setAttributes({ 'graphql.operation.type': type, ...(name ? { 'graphql.operation.name': name } : {}) });
}

/** An operation that ended in errors: its span says their stable codes, never their messages (which may quote the input). */
export function markOperationErrors(span: Span, errors: readonly GraphQLError[]): void {
  if (errors.length === 0) return;
  span.setStatus({ code: SpanStatusCode.ERROR, message: [...new Set(errors.map(codeOf))].join(' ') });
}

/**
 * As the client reads it (errors.ts): a domain error's code, a GraphQL-level error's own
 * (validation and limits, of the client's making, may have none), and anything else internal.
 */
function codeOf(error: GraphQLError): string {
  const original = error.originalError;
  if (original instanceof PortcullisError) return original.code;
  const code = error.extensions.code;
  if (typeof code === 'string') return code;
  return original === undefined ? 'GRAPHQL_ERROR' : 'INTERNAL_SERVER_ERROR';
}
