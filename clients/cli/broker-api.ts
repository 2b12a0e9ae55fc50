import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { CliError } from './cli-error.js';

export interface BrokerCredentials {
  /** Base URL, e.g. https://portcullis.example.com */
  broker: string;
  token: string;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: unknown } }[];
}

const REQUEST_TIMEOUT_MS = 30_000;

/** The broker's GraphQL API over HTTP (queries, mutations) and graphql-ws (subscriptions). */
export class BrokerApi {
  constructor(private readonly credentials: BrokerCredentials) {}

  get broker(): string {
    return this.credentials.broker;
  }

  async request<TResult, TVariables>(document: TypedDocumentNode<TResult, TVariables>, variables: TVariables): Promise<TResult> {
    const url = brokerUrl(this.credentials.broker, 'graphql');
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credentials.token}` },
        body: JSON.stringify({ query: print(document), variables }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw unreachable(this.credentials.broker, error);
    }
    const body = (await response.json().catch(() => null)) as GraphQLResponse<TResult> | null;
    const first = body?.errors?.[0];
    if (first) throw new CliError(typeof first.extensions?.code === 'string' ? first.extensions.code : 'API_ERROR', first.message);
    if (!response.ok || !body?.data) throw new CliError(`HTTP_${response.status}`, `the broker answered HTTP ${response.status} without a result`);
    return body.data;
  }

  /**
   * A live subscription; `onData` sees every result, `onError` a failure that ended it.
   * graphql-ws retries a dropped connection itself; `onReconnected` lets the caller catch
   * up on what it may have missed meanwhile.
   */
  subscribe<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    handlers: { onData(data: TResult): void; onError(error: Error): void; onReconnected?(): void },
  ): { close(): Promise<void> } {
    const client: Client = createClient({
      url: brokerUrl(this.credentials.broker, 'graphql', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${this.credentials.token}` },
      retryAttempts: 5,
      lazy: false,
      on: { connected: (_socket, _payload, wasRetry) => (wasRetry ? handlers.onReconnected?.() : undefined) },
    });
    client.subscribe<TResult>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          const first = result.errors?.[0];
          if (first) handlers.onError(new CliError(typeof first.extensions?.code === 'string' ? first.extensions.code : 'API_ERROR', first.message));
          else if (result.data) handlers.onData(result.data);
        },
        error: (error) => handlers.onError(subscriptionError(this.credentials.broker, error)),
        complete: () => handlers.onError(new CliError('SUBSCRIPTION_ENDED', 'the broker ended the subscription')),
      },
    );
    return { close: async () => client.dispose() };
  }
}

/** `path` on the broker, as http(s) or (for WebSockets) ws(s). */
export function brokerUrl(broker: string, path: string, scheme: 'http' | 'ws' = 'http'): string {
  const url = new URL(path, broker.replace(/\/?$/, '/'));
  if (scheme === 'ws') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

export function unreachable(broker: string, error: unknown): CliError {
  const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
  return new CliError('BROKER_UNREACHABLE', `cannot reach the broker at ${broker}: ${cause}`);
}

function subscriptionError(broker: string, error: unknown): Error {
  if (Array.isArray(error)) {
    const first = error[0] as { message?: string; extensions?: { code?: unknown } } | undefined;
    return new CliError(typeof first?.extensions?.code === 'string' ? first.extensions.code : 'API_ERROR', first?.message ?? 'subscription refused');
  }
  // A CloseEvent from the socket: 4403 and friends carry the broker's reason.
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    const { code, reason } = error as { code: number; reason: string };
    return new CliError(code === 4403 ? 'FORBIDDEN' : code === 4401 ? 'UNAUTHENTICATED' : 'BROKER_CLOSED', reason || `the broker closed the connection (${code})`);
  }
  return unreachable(broker, error);
}
