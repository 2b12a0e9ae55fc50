import type { GraphQLError, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { PortcullisError } from '../server/errors.js';
import type { PresentedCredential } from '../server/identity/authenticate.js';
import type { GraphQLContext, GraphQLServices } from './context.js';
import { createErrorFormatter, toGraphQLError } from './errors.js';
import type { GraphQLProtection } from './limits.js';

/** Largest graphql-ws frame accepted; ws' own default (100 MiB) is an invitation. */
export const GRAPHQL_WS_MAX_PAYLOAD = 64 * 1024;
/** A client must send connection_init this soon after the upgrade. */
const CONNECTION_INIT_TIMEOUT_MS = 3_000;
/** Ping interval; a peer that misses a pong is dropped. */
const KEEP_ALIVE_MS = 12_000;
/** How long a closing peer may take to answer our close frame before it is cut off. */
const CLOSE_HANDSHAKE_MS = 1_000;

export interface GraphQLWebSocketEndpoint {
  wss: WebSocketServer;
  /** Closes every connection with 1001 and stops accepting new ones. */
  close(): Promise<void>;
}

interface ConnectionExtra extends Record<PropertyKey, unknown> {
  credential?: PresentedCredential;
}

/**
 * graphql-ws (`graphql-transport-ws`) on the `/graphql` path. The credential (a session
 * cookie from our own origin, or `connectionParams.authorization`) is checked at
 * connection_init (a bad one closes with 4403) and again for every operation, so a
 * revoked token or ended session stops working on open sockets too. Every operation goes
 * through the same parse limits and validation rules as HTTP before it runs.
 */
export function createGraphQLWebSocketEndpoint(options: {
  schema: GraphQLSchema;
  protection: GraphQLProtection;
  services: GraphQLServices;
  production: boolean;
}): GraphQLWebSocketEndpoint {
  const { authenticator } = options.services.identity;
  // The same mapping as HTTP: codes kept, internal details logged and masked.
  const format = createErrorFormatter(options.services.logger);
  const formatAll = (errors: readonly GraphQLError[]) => errors.map((error) => format(error.toJSON(), error));
  const wss = new WebSocketServer({ noServer: true, maxPayload: GRAPHQL_WS_MAX_PAYLOAD });
  const disposable = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      schema: options.schema,
      isProd: options.production,
      connectionInitWaitTimeout: CONNECTION_INIT_TIMEOUT_MS,
      onConnect: async (ctx) => {
        try {
          const credential = authenticator.presented(ctx.extra.request.headers, ctx.connectionParams?.authorization);
          await authenticator.resolve(credential);
          ctx.extra.credential = credential;
          return true;
        } catch (error) {
          if (error instanceof PortcullisError) return false;
          throw error;
        }
      },
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: formatAll(result.errors) } : undefined),
      onError: (_ctx, _id, _payload, errors) => formatAll(errors),
      onSubscribe: async (ctx, _id, payload) => {
        const checked = options.protection.validateOperation(payload.query);
        if ('errors' in checked) return checked.errors;
        let contextValue: GraphQLContext;
        try {
          contextValue = { ...options.services, principal: await authenticator.resolve(ctx.extra.credential ?? null) };
        } catch (error) {
          return [toGraphQLError(error)];
        }
        return {
          schema: options.schema,
          document: checked.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
    },
    wss,
    KEEP_ALIVE_MS,
  );
  return {
    wss,
    close: async () => {
      // dispose() sends 1001 to everyone and waits for their replies; a peer that never
      // answers must not hold the shutdown for ws' 30 s default.
      const cutOff = setTimeout(() => wss.clients.forEach((client) => client.terminate()), CLOSE_HANDSHAKE_MS);
      try {
        await disposable.dispose();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      } finally {
        clearTimeout(cutOff);
      }
    },
  };
}
