import { stringifyDocument } from '@urql/core';
import type { Client as Socket } from 'graphql-ws';
import { AuditHeadDocument, AuditTailDocument } from '../gql/graphql';
import type { AuditFilter, AuditHeadQuery, AuditTailSubscription } from '../gql/graphql';

export type TailEvent = AuditTailSubscription['auditEvents'];
export type TailState = 'connecting' | 'live' | 'reconnecting';

const QUERY = stringifyDocument(AuditTailDocument);
const HEAD = stringifyDocument(AuditHeadDocument);
const MAX_DELAY_MS = 30_000;

/**
 * Follows the audit feed from `after` (replay after that cursor, then live), and after any
 * interruption resumes after the last cursor it delivered: nothing missed, and the
 * caller drops the rare repeat. The same loop as `portcullis audit tail`, on a socket of
 * its own without graphql-ws's automatic retry, which would resubscribe from the first
 * cursor. Without a cursor to start after (an empty table), it first asks where the log
 * ends, so that even a drop before the first event resumes from a position, never from
 * "whatever is new then". Returns a function that stops it.
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
    if (cursor === null) anchor(socket);
    else follow(socket);
  }

  /** Takes the log's newest visible event as the start, then follows. */
  function anchor(on: Socket) {
    let head: string | null = null;
    on.subscribe<AuditHeadQuery>(
      { query: HEAD },
      {
        next: (value) => void (head = value.data?.auditEvents.items[0]?.id ?? null),
        error: (error) => interrupted(describe(error)),
        complete: () => {
          if (stopped || on !== socket) return;
          // A signed-in caller sees at least their own sign-in, so a head is there in practice.
          cursor = head;
          follow(on);
        },
      },
    );
  }

  function follow(on: Socket) {
    on.subscribe<AuditTailSubscription>(
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
