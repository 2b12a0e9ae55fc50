import type { Clock } from '../clock.js';
import { timerAt } from '../timer-at.js';
import type { CredentialEndReason, CredentialEvents } from './credential-events.js';
import type { Principal } from './principal.js';
import { isScimUser } from '../scim/standing.js';

/** `roles_changed`: the connection still has its credential, but was authorized under roles SCIM changed since. */
type CredentialEnd = CredentialEndReason | 'expired' | 'roles_changed';

type Credential = Principal['credential'];

/** What a person reads when a live connection closes because its credential ended. */
export function describeCredentialEnd(kind: Credential['kind'], why: CredentialEnd): string {
  const what = { token: 'API token', oauth: 'OAuth access token', integration: 'Slack action', session: null }[kind];
  if (why === 'expired') return what ? `${what} expired` : 'sign-in session expired';
  if (why === 'deprovisioned') return 'user deprovisioned by their identity provider';
  if (why === 'roles_changed') return 'roles changed by the identity provider: reconnect';
  return what ? `${what} revoked` : 'signed out';
}

type OnEnd = (why: CredentialEnd) => void;

interface Watcher {
  onEnd: OnEnd;
  /** Authorized by the user's roles when it opened (a GraphQL subscription), so ended when they change. */
  rolesBound: boolean;
}

interface Watched {
  credential: Credential;
  /** Whose it is: a deprovisioned user's connections end whatever credential opened them. */
  user: Principal['user'];
  /** One per connection opened with the credential (several sessions may share one token). */
  watchers: Set<Watcher>;
  /** One timer per credential, at its expiresAt, however many connections it opened. */
  expiry: { cancel(): void };
}

/**
 * Ends live connections (MCP sessions, GraphQL subscriptions) when the credential they
 * were opened with stops working: revoked or signed out on any instance (bus event), at
 * its expiresAt (timer), or found gone by a periodic re-check, since bus events can be
 * lost. A connection must not outlive the credential that opened it.
 */
export class CredentialWatch {
  private readonly watched = new Map<string, Watched>();
  private readonly unsubscribe: () => void;
  private readonly recheck: NodeJS.Timeout;

  constructor(
    private readonly deps: { events: CredentialEvents; isLive: (credential: Credential) => Promise<boolean>; clock: Clock; recheckIntervalMs: number },
  ) {
    const unsubscribeEnded = deps.events.onEnded((event) => this.end(keyOf(event), event.reason));
    const unsubscribeUsers = deps.events.onUserChanged(({ idp, userName, change }) => {
      for (const [key, { user, watchers }] of [...this.watched]) {
        if (!isScimUser(user, idp, userName)) continue;
        if (change === 'deprovisioned') this.end(key, 'deprovisioned');
        else for (const watcher of [...watchers].filter((w) => w.rolesBound)) this.endOne(key, watcher, 'roles_changed');
      }
    });
    this.unsubscribe = () => {
      unsubscribeEnded();
      unsubscribeUsers();
    };
    this.recheck = setInterval(() => void this.recheckAll(), deps.recheckIntervalMs);
    this.recheck.unref();
  }

  /**
   * Calls `onEnd` (once) when the principal's credential ends, or with `rolesBound` also
   * when SCIM changes the user's groups; returns the unwatch.
   */
  watch({ credential, user }: Pick<Principal, 'credential' | 'user'>, onEnd: OnEnd, options: { rolesBound?: boolean } = {}): () => void {
    const key = keyOf(credential);
    let entry = this.watched.get(key);
    if (!entry) {
      entry = { credential, user, watchers: new Set(), expiry: timerAt(this.deps.clock, credential.expiresAt, () => this.end(key, 'expired')) };
      this.watched.set(key, entry);
    }
    // An object per call, so the same callback watched twice is two watchers.
    const watcher: Watcher = { onEnd, rolesBound: options.rolesBound ?? false };
    entry.watchers.add(watcher);
    return () => this.remove(key, watcher);
  }

  /**
   * Asks the store now whether the principal's credential still works, and ends what it
   * opened if not: for a connection that could not hear of its end (the store was away).
   * Rejects when the store cannot say.
   */
  async confirm({ credential }: Pick<Principal, 'credential'>): Promise<boolean> {
    const live = await this.deps.isLive(credential);
    if (!live) this.end(keyOf(credential), 'revoked');
    return live;
  }

  close(): void {
    this.unsubscribe();
    clearInterval(this.recheck);
    for (const entry of this.watched.values()) entry.expiry.cancel();
    this.watched.clear();
  }

  private async recheckAll(): Promise<void> {
    for (const { credential } of [...this.watched.values()]) {
      // A store that cannot answer proves nothing either way; the grant checks fail closed meanwhile.
      await this.confirm({ credential }).catch(() => {});
    }
  }

  private end(key: string, why: CredentialEnd): void {
    const entry = this.watched.get(key);
    if (!entry) return;
    this.watched.delete(key);
    entry.expiry.cancel();
    for (const watcher of entry.watchers) watcher.onEnd(why);
  }

  private endOne(key: string, watcher: Watcher, why: CredentialEnd): void {
    this.remove(key, watcher);
    watcher.onEnd(why);
  }

  private remove(key: string, watcher: Watcher): void {
    const entry = this.watched.get(key);
    if (!entry?.watchers.delete(watcher)) return;
    if (entry.watchers.size > 0) return;
    entry.expiry.cancel();
    this.watched.delete(key);
  }
}

/** One entry per credential, however many connections it opened. */
function keyOf(credential: Pick<Credential, 'kind' | 'id'>): string {
  return `${credential.kind}:${credential.id}`;
}
