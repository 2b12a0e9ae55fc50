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
    const response = await fetchBroker(this.credentials.broker, 'graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credentials.token}` },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const body = (await response.json().catch(() => null)) as GraphQLResponse<TResult> | null;
    if (body?.errors?.[0]) throw fromGraphQLError(body.errors[0]);
    if (!response.ok || !body?.data) throw new CliError(`HTTP_${response.status}`, `the broker answered HTTP ${response.status} without a result`);
    return body.data;
  }

  /**
   * A live subscription. `connected` settles once the broker accepted the connection
   * (or refused it); `onData` sees every result; `onError` a failure that ended it. A
   * dropped connection is retried without end (capped backoff) and `onReconnected` lets
   * the caller catch up on what it may have missed meanwhile; a refusal is final.
   */
  subscribe<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    handlers: { onData(data: TResult): void; onError(error: Error): void; onReconnected?(): void },
  ): { connected: Promise<void>; close(): Promise<void> } {
    let connected!: { resolve(): void; reject(error: Error): void };
    const connectedPromise = new Promise<void>((resolve, reject) => (connected = { resolve, reject }));
    const fail = (error: Error) => {
      connected.reject(error);
      handlers.onError(error);
    };
    const client: Client = createClient({
      url: brokerUrl(this.credentials.broker, 'graphql', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${this.credentials.token}` },
      retryAttempts: Number.POSITIVE_INFINITY,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 500 * 2 ** retries))),
      lazy: false,
      on: {
        connected: (_socket, _payload, wasRetry) => {
          connected.resolve();
          if (wasRetry) handlers.onReconnected?.();
        },
      },
    });
    client.subscribe<TResult>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.[0]) fail(fromGraphQLError(result.errors[0]));
          else if (result.data) handlers.onData(result.data);
        },
        error: (error) => fail(subscriptionError(this.credentials.broker, error)),
        complete: () => fail(new CliError('SUBSCRIPTION_ENDED', 'the broker ended the subscription')),
      },
    );
    connectedPromise.catch(() => {});
    return { connected: connectedPromise, close: async () => client.dispose() };
  }
}

/** `path` on the broker, as http(s) or (for WebSockets) ws(s). */
export function brokerUrl(broker: string, path: string, scheme: 'http' | 'ws' = 'http'): string {
  const url = new URL(path, broker.replace(/\/?$/, '/'));
  if (scheme === 'ws') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * One HTTP request to the broker, bounded in time (plus `init.signal`, if any); a
 * failure to reach it is one clear BROKER_UNREACHABLE line.
 */
export async function fetchBroker(broker: string, path: string, init: RequestInit = {}): Promise<Response> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  try {
    return await fetch(brokerUrl(broker, path), { ...init, signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
  } catch (error) {
    throw unreachable(broker, error);
  }
}

function unreachable(broker: string, error: unknown): CliError {
  const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
  return new CliError('BROKER_UNREACHABLE', `cannot reach the broker at ${broker}: ${cause}`);
}

function fromGraphQLError(error: { message?: string; extensions?: { code?: unknown } } | undefined): CliError {
  return new CliError(typeof error?.extensions?.code === 'string' ? error.extensions.code : 'API_ERROR', error?.message ?? 'the broker refused the operation');
}

/** Why a subscription ended, as one CLI error: the broker's GraphQL error, its close code (4401, 4403) and reason, or the broker out of reach. */
export function subscriptionError(broker: string, error: unknown): Error {
  if (Array.isArray(error)) return fromGraphQLError(error[0] as Parameters<typeof fromGraphQLError>[0]);
  // A CloseEvent from the socket: 4403 and friends carry the broker's reason.
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    const { code, reason } = error as { code: number; reason: string };
    return new CliError(code === 4403 ? 'FORBIDDEN' : code === 4401 ? 'UNAUTHENTICATED' : 'BROKER_CLOSED', reason || `the broker closed the connection (${code})`);
  }
  return unreachable(broker, error);
}
