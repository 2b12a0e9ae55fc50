import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { GraphQLContext } from './context.js';
import type { GraphQLProtection } from './limits.js';

/** Largest graphql-ws frame accepted; ws' own default (100 MiB) is an invitation. */
export const GRAPHQL_WS_MAX_PAYLOAD = 64 * 1024;
/** A client must send connection_init this soon after the upgrade. */
const CONNECTION_INIT_TIMEOUT_MS = 3_000;
/** Ping interval; a peer that misses a pong is dropped. */
const KEEP_ALIVE_MS = 12_000;

export interface GraphQLWebSocketEndpoint {
  wss: WebSocketServer;
  /** Closes every connection with 1001 and stops accepting new ones. */
  close(): Promise<void>;
}

/**
 * graphql-ws (`graphql-transport-ws`) on the `/graphql` path. Every operation goes
 * through the same parse limits and validation rules as HTTP before it runs.
 */
export function createGraphQLWebSocketEndpoint(options: {
  schema: GraphQLSchema;
  protection: GraphQLProtection;
  context: () => GraphQLContext;
  production: boolean;
}): GraphQLWebSocketEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: GRAPHQL_WS_MAX_PAYLOAD });
  const disposable = useServer(
    {
      schema: options.schema,
      isProd: options.production,
      connectionInitWaitTimeout: CONNECTION_INIT_TIMEOUT_MS,
      onSubscribe: (_ctx, _id, payload) => {
        const checked = options.protection.validateOperation(payload.query);
        if ('errors' in checked) return checked.errors;
        return {
          schema: options.schema,
          document: checked.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: options.context(),
        };
      },
    },
    wss,
    KEEP_ALIVE_MS,
  );
  return {
    wss,
    close: async () => {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
