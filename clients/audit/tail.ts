import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { brokerUrl } from '../cli/broker-api.js';
import { AuditFeedDocument } from '../graphql/generated/graphql.js';
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
 * between writing it and recording its cursor.
 */
export async function followAuditFeed(options: TailOptions): Promise<void> {
  let cursor = options.after ?? readCursor(options.cursorFile);
  const url = brokerUrl(options.broker, 'graphql', 'ws');
  let delay = 500;
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
            options.write(JSON.stringify(options.format === 'ocsf' ? toOcsf(event) : event));
            cursor = event.id;
            if (options.cursorFile) writeCursor(options.cursorFile, cursor);
            delay = 500;
          },
          error: (error) => resolve(error instanceof Error ? error : new Error(describe(error))),
          complete: () => resolve('ended'),
        },
      );
    });
    if (options.signal?.aborted) return;
    options.report(`portcullis: audit feed interrupted (${outcome === 'ended' ? 'closed by the broker' : outcome.message}); resuming after ${cursor ?? 'now'} in ${delay} ms`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30_000);
  }
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return error.map((e: { message?: string }) => e.message ?? String(e)).join('; ');
  const close = error as { code?: number; reason?: string };
  return close.code !== undefined ? `closed with ${close.code} ${close.reason ?? ''}`.trim() : String(error);
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
  writeFileSync(`${file}.tmp`, `${cursor}\n`);
  renameSync(`${file}.tmp`, file);
}
