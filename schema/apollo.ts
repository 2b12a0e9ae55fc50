import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { GraphQLError } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../server/log.js';
import type { GraphQLContext } from './context.js';
import { createErrorFormatter } from './errors.js';
import type { GraphQLProtection } from './limits.js';
import { operationSpan } from './operation-span.js';

/**
 * Subscriptions are served over graphql-ws only. Over POST, graphql-js would run a
 * subscription field's resolver without its subscribe step, which is where who may follow
 * what is decided: such an operation is refused before it runs.
 */
const subscriptionsOverWebSocketOnly: ApolloServerPlugin<GraphQLContext> = {
  requestDidStart() {
    return Promise.resolve({
      didResolveOperation({ operation }) {
        if (operation?.operation !== 'subscription') return Promise.resolve();
        throw new GraphQLError('subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, not over HTTP', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
      },
    });
  },
};

/** Apollo Server for `POST /graphql`: CSRF prevention on, batching off, limits applied. */
export async function startApollo(options: {
  schema: GraphQLSchema;
  httpServer: Server;
  protection: GraphQLProtection;
  /** Introspection and schema details in errors (config `graphql.introspection`). */
  introspection: boolean;
  maxTokens: number;
  logger: Logger;
  /** Names each request's span after its operation (observability.tracing on). */
  traced: boolean;
}): Promise<ApolloServer<GraphQLContext>> {
  const { apollo: armor } = options.protection;
  const server = new ApolloServer<GraphQLContext>({
    schema: options.schema,
    plugins: [
      // Within the process's 10 s shutdown budget, with room for the stores to close.
      ApolloServerPluginDrainHttpServer({ httpServer: options.httpServer, stopGracePeriodMillis: 5_000 }),
      // The default landing page loads a remote sandbox; a broker serves nothing third-party.
      ApolloServerPluginLandingPageDisabled(),
      subscriptionsOverWebSocketOnly,
      // graphql-armor's typings name Apollo's CommonJS types; the plugins are plain objects.
      ...(armor.plugins as unknown as ApolloServerPlugin<GraphQLContext>[]),
      ...(options.traced ? [operationSpan] : []),
    ],
    validationRules: armor.validationRules,
    // The token limit belongs to parsing: over it, a parse error (400), never a 500.
    parseOptions: { maxTokens: options.maxTokens },
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    introspection: options.introspection,
    hideSchemaDetailsFromClientErrors: !options.introspection,
    includeStacktraceInErrorResponses: false,
    // Our process owns its signals (server/main.ts); Apollo's handler would re-raise SIGTERM and kill it mid-drain.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter(options.logger),
  });
  await server.start();
  return server;
}
