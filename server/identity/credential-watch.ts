import type { Clock } from '../clock.js';
import { timerAt } from '../timer-at.js';
import type { CredentialEndReason, CredentialEvents } from './credential-events.js';
import type { Principal } from './principal.js';

export type CredentialEnd = CredentialEndReason | 'expired';

type Credential = Principal['credential'];

/** What a person reads when a live connection closes because its credential ended. */
export function describeCredentialEnd(kind: Credential['kind'], why: CredentialEnd): string {
  if (why === 'expired') return kind === 'token' ? 'API token expired' : 'sign-in session expired';
  return kind === 'token' ? 'API token revoked' : 'signed out';
}

interface Watcher {
  onEnd: (why: CredentialEnd) => void;
  expiry: { cancel(): void };
}

/**
 * Ends live connections (MCP sessions, GraphQL subscriptions) when the credential they
 * were opened with stops working: revoked or signed out on any instance (bus event), at
 * its expiresAt (timer), or found gone by a periodic re-check, since bus events can be
 * lost. A connection must not outlive the credential that opened it.
 */
export class CredentialWatch {
  private readonly watched = new Map<string, { credential: Credential; watchers: Set<Watcher> }>();
  private readonly unsubscribe: () => void;
  private readonly recheck: NodeJS.Timeout;

  constructor(
    private readonly deps: { events: CredentialEvents; isLive: (credential: Credential) => Promise<boolean>; clock: Clock; recheckIntervalMs: number },
  ) {
    this.unsubscribe = deps.events.onEnded((event) => this.end(`${event.kind}:${event.id}`, event.reason));
    this.recheck = setInterval(() => void this.recheckAll(), deps.recheckIntervalMs);
    this.recheck.unref();
  }

  /** Calls `onEnd` (once) when the credential ends; returns the unwatch. */
  watch(credential: Credential, onEnd: (why: CredentialEnd) => void): () => void {
    const key = `${credential.kind}:${credential.id}`;
    const entry = this.watched.get(key) ?? { credential, watchers: new Set<Watcher>() };
    this.watched.set(key, entry);
    const watcher: Watcher = { onEnd, expiry: timerAt(this.deps.clock, credential.expiresAt, () => this.fire(key, watcher, 'expired')) };
    entry.watchers.add(watcher);
    return () => this.remove(key, watcher);
  }

  close(): void {
    this.unsubscribe();
    clearInterval(this.recheck);
    for (const { watchers } of this.watched.values()) for (const watcher of watchers) watcher.expiry.cancel();
    this.watched.clear();
  }

  private async recheckAll(): Promise<void> {
    for (const [key, { credential }] of [...this.watched]) {
      // A store that cannot answer proves nothing either way; the grant checks fail closed meanwhile.
      const live = await this.deps.isLive(credential).catch(() => true);
      if (!live) this.end(key, 'revoked');
    }
  }

  private end(key: string, why: CredentialEnd): void {
    const entry = this.watched.get(key);
    if (!entry) return;
    for (const watcher of [...entry.watchers]) this.fire(key, watcher, why);
  }

  private fire(key: string, watcher: Watcher, why: CredentialEnd): void {
    if (!this.remove(key, watcher)) return;
    watcher.onEnd(why);
  }

  private remove(key: string, watcher: Watcher): boolean {
    const entry = this.watched.get(key);
    if (!entry?.watchers.delete(watcher)) return false;
    watcher.expiry.cancel();
    if (entry.watchers.size === 0) this.watched.delete(key);
    return true;
  }
}
