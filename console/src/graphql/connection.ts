import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from '@urql/core';
import { createClient as createSocket } from 'graphql-ws';
import type { Client as Socket } from 'graphql-ws';
import { ViewerDocument } from '../gql/graphql';
import { isSignedOut } from './session-expiry';

/**
 * The console's line to the broker: GraphQL over HTTP (POST, JSON: Apollo's CSRF
 * prevention refuses simple requests) and subscriptions over graphql-ws on the same
 * origin, both carrying the session cookie. Any answer that says the sign-in ended calls
 * `onSignedOut` (the console then sends the browser to sign in again).
 */
export interface Connection {
  client: Client;
  /** The same API without a result cache: for reads that must not stay in memory (the export's pages). */
  uncached: Client;
  /** Called after the subscription socket came back from an outage: lists refetch what they may have missed. */
  onReconnect(listener: () => void): () => void;
  /** A socket of its own, without automatic retry, for a feed that resumes from its own cursor (the audit tail). */
  openFeedSocket(): Socket;
}

/** graphql-ws close codes for a refused credential (4401 Unauthorized, 4403 Forbidden). */
const SIGNED_OUT_CLOSE_CODES = new Set([4401, 4403]);
/** A socket closed on purpose (the lazy client closing when idle, or leaving the page). */
const NORMAL_CLOSE_CODES = new Set([1000, 1001]);

export function createConnection(options: { origin: string; onSignedOut: () => void }): Connection {
  const wsUrl = `${options.origin.replace(/^http/, 'ws')}/graphql`;
  const signedOut = mapExchange({
    onError: (error) => {
      if (isSignedOut(error)) options.onSignedOut();
    },
  });
  const http = {
    url: '/graphql',
    // GET would be refused by CSRF prevention (no JSON content type) and would put variables in logs.
    preferGetMethod: false,
    fetchOptions: { credentials: 'same-origin' },
  } as const;
  const uncached = new Client({ ...http, exchanges: [signedOut, fetchExchange] });

  const watchClose = (event: unknown) => {
    const code = (event as { code?: number }).code ?? 0;
    if (SIGNED_OUT_CLOSE_CODES.has(code)) options.onSignedOut();
    // A browser cannot read the status of a refused upgrade (an expired cookie gets 401,
    // the socket just closes with 1006): ask over HTTP, whose 401 `signedOut` sees.
    else if (!NORMAL_CLOSE_CODES.has(code)) void uncached.query(ViewerDocument, {}).toPromise();
  };
  const reconnectListeners = new Set<() => void>();
  const socket = createSocket({
    url: wsUrl,
    lazy: true,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => !SIGNED_OUT_CLOSE_CODES.has((event as { code?: number }).code ?? 0),
    on: {
      connected: (_socket, _payload, wasRetry) => {
        if (wasRetry) for (const listener of reconnectListeners) listener();
      },
      closed: watchClose,
    },
  });
  const client = new Client({
    ...http,
    exchanges: [
      signedOut,
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: socket.subscribe({ query: request.query ?? '', variables: request.variables }, sink) }),
        }),
      }),
    ],
  });
  return {
    client,
    uncached,
    onReconnect: (listener) => {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    openFeedSocket: () => createSocket({ url: wsUrl, lazy: true, retryAttempts: 0, on: { closed: watchClose } }),
  };
}
