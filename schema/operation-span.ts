import { trace } from '@opentelemetry/api';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLContext } from './context.js';

/**
 * Names the request's span (server/tracing/http-spans.ts) after its operation once Apollo
 * resolved it: the operation's type and name, never its variables or document.
 */
export const operationSpan: ApolloServerPlugin<GraphQLContext> = {
  requestDidStart: async () => ({
    didResolveOperation: async ({ operation, operationName }) => {
      const span = trace.getActiveSpan();
      if (!span || !operation) return;
      span.updateName(`graphql.${operation.operation}${operationName ? ` ${operationName}` : ''}`);
      span.setAttributes({ 'graphql.operation.type': operation.operation, ...(operationName ? { 'graphql.operation.name': operationName } : {}) });
    },
  }),
};
