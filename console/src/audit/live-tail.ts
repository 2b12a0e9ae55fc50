import { stringifyDocument } from '@urql/core';
import type { Client as Socket } from 'graphql-ws';
import { AuditTailDocument } from '../gql/graphql';
import type { AuditFilter, AuditTailSubscription } from '../gql/graphql';

export type TailEvent = AuditTailSubscription['auditEvents'];
export type TailState = 'connecting' | 'live' | 'reconnecting';

const QUERY = stringifyDocument(AuditTailDocument);
const MAX_DELAY_MS = 30_000;

/**
 * Follows the audit feed from `after` (replay after that cursor, then live), and after any
 * interruption resumes after the last cursor it delivered: nothing missed, and the
 * caller drops the rare repeat. The same loop as `portcullis audit tail`, on a socket of
 * its own without graphql-ws's automatic retry, which would resubscribe from the first
 * cursor. Returns a function that stops it.
 */
export function followAuditTail(options: {
  openSocket: () => Socket;
  filter: AuditFilter;
  after: string | null;
  onEvent: (event: TailEvent) => void;
  onState: (state: TailState, detail?: string) => void;
}): () => void {
  let cursor = options.after;
  let stopped = false;
  let delay = 500;
  let socket: Socket | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const interrupted = (detail: string) => {
    if (stopped) return;
    void socket?.dispose();
    socket = null;
    options.onState('reconnecting', detail);
    timer = setTimeout(start, delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  };

  function start() {
    if (stopped) return;
    options.onState('connecting');
    socket = options.openSocket();
    socket.on('connected', () => options.onState('live'));
    socket.subscribe<AuditTailSubscription>(
      { query: QUERY, variables: { filter: options.filter, after: cursor } },
      {
        next: (value) => {
          const event = value.data?.auditEvents;
          if (!event) return;
          cursor = event.id;
          delay = 500;
          options.onEvent(event);
        },
        error: (error) => interrupted(describe(error)),
        complete: () => interrupted('the broker ended the feed'),
      },
    );
  }

  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    void socket?.dispose();
  };
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message ?? String(e)).join('; ');
  const close = error as { code?: number; reason?: string };
  return close.code !== undefined ? `connection closed (${close.code}${close.reason ? `: ${close.reason}` : ''})` : 'connection lost';
}
