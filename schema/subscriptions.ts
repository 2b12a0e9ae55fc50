import type { IncomingMessage } from 'node:http';
import { getOperationAST, GraphQLError } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import type { Tracer } from '@opentelemetry/api';
import { CloseCode } from 'graphql-ws';
import type { ServerOptions } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { PortcullisError } from '../server/errors.js';
import type { PresentedCredential } from '../server/identity/authenticate.js';
import { describeCredentialEnd } from '../server/identity/credential-watch.js';
import type { CredentialWatch } from '../server/identity/credential-watch.js';
import type { Lease, LeaseKeeper } from '../server/limits/lease-keeper.js';
import { SubscriptionPlaces } from './subscription-places.js';
import { operationContext } from './context.js';
import type { GraphQLContext, GraphQLServices } from './context.js';
import { createErrorFormatter, toGraphQLError } from './errors.js';
import type { GraphQLProtection } from './limits.js';
import { illFormedInputError } from './well-formed-input.js';
import { traceOperations } from './ws-operation-spans.js';

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
  /** The client's address, taken once at connect (audited with the mutations sent over the socket). */
  address?: string;
  /** Stops watching the connection's credential (revocation closes the socket). */
  unwatch?: () => void;
  /** The places this connection's live subscriptions hold under the caps, by operation id. */
  subscriptions?: Map<string, Lease>;
}

/** What useServer is given (its `isProd` beside graphql-ws' own options). */
type Operations = ServerOptions<Record<string, unknown> | undefined, Extra & Partial<ConnectionExtra>> & { isProd?: boolean };

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
  credentialWatch: CredentialWatch;
  leases: LeaseKeeper;
  /** The client address of an upgrade request, as express sees it (server/http/client-address.ts). */
  addressOf: (request: IncomingMessage) => string | undefined;
  /** Spans each operation (schema/ws-operation-spans.ts); null when tracing is off. */
  tracer: Tracer | null;
  /** The client address's GraphQL budget, spent by every operation as by every HTTP request (server/http/rate-limit.ts). */
  budget: (address: string | undefined) => Promise<PortcullisError | null>;
}): GraphQLWebSocketEndpoint {
  const limits = options.services.config.graphql;
  const { authenticator } = options.services.identity;
  // The same mapping as HTTP: codes kept, internal details logged and masked.
  const format = createErrorFormatter(options.services.logger);
  const formatAll = (errors: readonly GraphQLError[]) => errors.map((error) => format(error.toJSON(), error));
  const wss = new WebSocketServer({ noServer: true, maxPayload: GRAPHQL_WS_MAX_PAYLOAD });
  const places = new SubscriptionPlaces(options.leases, limits);
  const traced = (operations: Operations): Operations => (options.tracer ? { ...operations, ...traceOperations(options.tracer, operations) } : operations);
  const disposable = useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    traced({
      schema: options.schema,
      // Internal error messages are never shown, in any environment.
      isProd: true,
      connectionInitWaitTimeout: CONNECTION_INIT_TIMEOUT_MS,
      onConnect: async (ctx) => {
        try {
          const illFormed = illFormedInputError(ctx.connectionParams ?? {});
          if (illFormed) return false;
          const credential = authenticator.presented(ctx.extra.request.headers, ctx.connectionParams?.authorization);
          ctx.extra.address = options.addressOf(ctx.extra.request);
          const principal = await authenticator.resolve(credential, ctx.extra.address);
          ctx.extra.credential = credential;
          // A subscription must not outlive the token or sign-in that opened it.
          if (principal) {
            const { kind } = principal.credential;
            // Its subscriptions were authorized under the user's roles: a SCIM group change ends them too.
            ctx.extra.unwatch = options.credentialWatch.watch(principal, (why) => ctx.extra.socket.close(CloseCode.Unauthorized, describeCredentialEnd(kind, why)), { rolesBound: true });
          }
          return true;
        } catch (error) {
          if (error instanceof PortcullisError) return false;
          throw error;
        }
      },
      onClose: (ctx) => {
        ctx.extra.unwatch?.();
        for (const lease of ctx.extra.subscriptions?.values() ?? []) lease.release();
        ctx.extra.subscriptions?.clear();
      },
      onComplete: (ctx, id) => {
        ctx.extra.subscriptions?.get(id)?.release();
        ctx.extra.subscriptions?.delete(id);
      },
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? { ...result, errors: formatAll(result.errors) } : undefined),
      onError: (_ctx, _id, _payload, errors) => formatAll(errors),
      onSubscribe: async (ctx, id, payload) => {
        // Counted before anything is parsed or a credential checked, as over HTTP.
        const overBudget = await options.budget(ctx.extra.address);
        if (overBudget) return [new GraphQLError(overBudget.message, { extensions: { code: overBudget.code } })];
        const illFormed = illFormedInputError(payload);
        if (illFormed) return [illFormed];
        const checked = options.protection.validateOperation(payload.query);
        if ('errors' in checked) return checked.errors;
        let contextValue: GraphQLContext;
        try {
          contextValue = operationContext(options.services, await authenticator.resolve(ctx.extra.credential ?? null, ctx.extra.address));
          if (getOperationAST(checked.document, payload.operationName)?.operation === 'subscription') {
            await places.take((ctx.extra.subscriptions ??= new Map()), id, contextValue.principal?.user.id ?? null);
          }
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
    }),
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
