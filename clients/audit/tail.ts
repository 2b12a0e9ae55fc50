import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { BrokerApi, brokerUrl, subscriptionError } from '../cli/broker-api.js';
import { writeFileAtomically } from '../cli/atomic-write.js';
import { refusedCredential } from '../cli/cli-error.js';
import { jsonLine } from '../../server/text/json-line.js';
import { AuditFeedDocument, AuditHeadDocument } from '../graphql/generated/graphql.js';
import type { AuditFeedSubscription } from '../graphql/generated/graphql.js';
import { toOcsf } from './ocsf.js';
import type { WireAuditEvent } from './ocsf.js';

const SUBSCRIPTION = print(AuditFeedDocument);

export interface TailOptions {
  broker: string;
  token: string;
  after?: string;
  cursorFile?: string;
  format: 'json' | 'ocsf';
  write: (line: string) => void;
  report: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Follows the broker's audit feed and writes one line per event. The cursor of every
 * written event is recorded (atomically) in the cursor file, and every reconnect resumes
 * after it: nothing is skipped; an event may be written twice only if the process died
 * between writing it and recording its cursor. Started without a cursor, it first pins
 * "now" as one (headCursor), so even the first reconnect resumes rather than restarts.
 * A refused credential (never good, or revoked meanwhile) ends it with that error.
 */
export async function followAuditFeed(options: TailOptions): Promise<void> {
  const backoff = new Backoff(options.signal);
  let cursor = options.after ?? readCursor(options.cursorFile) ?? (await headCursor(options, backoff));
  const url = brokerUrl(options.broker, 'graphql', 'ws');
  while (!options.signal?.aborted) {
    const outcome = await new Promise<'ended' | Error>((resolve) => {
      const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams: { authorization: `Bearer ${options.token}` } });
      const stop = () => void Promise.resolve(client.dispose()).then(() => resolve('ended'));
      options.signal?.addEventListener('abort', stop, { once: true });
      client.subscribe<AuditFeedSubscription>(
        { query: SUBSCRIPTION, variables: { after: cursor ?? null } },
        {
          next: (value) => {
            if (!value.data) return;
            // `data` is always a JSON object; the JSON scalar is only typed `unknown`.
            const event = value.data.auditEvents as WireAuditEvent;
            options.write(jsonLine(options.format === 'ocsf' ? toOcsf(event) : event));
            cursor = event.id;
            if (options.cursorFile) writeCursor(options.cursorFile, cursor);
            backoff.reset();
          },
          error: (error) => resolve(subscriptionError(options.broker, error)),
          complete: () => resolve('ended'),
        },
      );
    });
    if (options.signal?.aborted) return;
    // A token revoked while the tail runs, or one never good for the feed: following again cannot succeed, and a tail that
    // retried for ever would look alive to whatever supervises it while it delivers nothing.
    if (refusedCredential(outcome)) throw outcome;
    options.report(`portcullis: audit feed interrupted (${outcome === 'ended' ? 'closed by the broker' : outcome.message}); resuming after ${cursor ?? 'now'} in ${backoff.delay} ms`);
    await backoff.wait();
  }
}

/**
 * "Now" as a cursor, recorded in the cursor file as a written event's would be (so a
 * restart resumes there too). Subscribing with no cursor means "from now" on every
 * connection, so a reconnect before the first event would silently skip what was appended
 * while the feed was down. A failure to ask is retried like a dropped feed, never answered
 * with "now"; a refused credential ends the tail, as asking again cannot succeed.
 */
async function headCursor(options: TailOptions, backoff: Backoff): Promise<string | undefined> {
  const api = new BrokerApi({ broker: options.broker, token: options.token });
  while (!options.signal?.aborted) {
    try {
      const { items, pageInfo } = (await api.request(AuditHeadDocument, {})).auditEvents;
      // The newest event the caller sees; else (a caller seeing only their own events, none among the newest scanned) where the scan stopped.
      const head = items[0]?.id ?? pageInfo.endCursor;
      // Null when the caller sees no event (an empty log, or none of a non-auditor's own): no
      // cursor names "before the first event" (`after` takes only an issued cursor, and one
      // older than retention is refused), so the tail starts from now as before, and a
      // reconnect before its first event can still miss events.
      if (head == null) return undefined;
      if (options.cursorFile) writeCursor(options.cursorFile, head);
      return head;
    } catch (error) {
      // A refused token ends the tail; anything else (a broker out of reach, restarting, its store down) is asked again, as the feed is.
      if (refusedCredential(error)) throw error;
      options.report(`portcullis: cannot read where the audit log ends (${error instanceof Error ? error.message : String(error)}); retrying in ${backoff.delay} ms`);
      await backoff.wait();
    }
  }
  return undefined;
}

/** The wait between attempts: 0.5 s, doubling up to 30 s, back to 0.5 s once events flow; an abort cuts it short. */
class Backoff {
  delay = 500;

  constructor(private readonly signal: AbortSignal | undefined) {}

  reset(): void {
    this.delay = 500;
  }

  async wait(): Promise<void> {
    // Rejected only by the abort, which every caller checks next.
    await sleep(this.delay, undefined, { signal: this.signal }).catch(() => {});
    this.delay = Math.min(this.delay * 2, 30_000);
  }
}

function readCursor(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function writeCursor(file: string, cursor: string): void {
  writeFileAtomically(file, `${cursor}\n`, 0o644);
}

