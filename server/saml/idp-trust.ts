import type { Clock } from '../clock.js';
import { guardedGet, GuardedFetchError } from '../http/guarded-fetch.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { IdentityProvider, IdpTrust } from './identity-providers.js';
import { IdpMetadataInvalid, METADATA_MAX_BYTES, parseIdpMetadata } from './idp-metadata.js';
import type { KeyRotationRecorder } from './key-rotation.js';
import type { StoredMetadataCopies } from './metadata-copies.js';

/** What the SAML routes ask of an IdP's trust (routes.ts). */
export interface IdpTrustSource {
  /** The IdP's current entry point, issuer and certificates; null when it has none yet (metadata never fetched). */
  current(idp: IdentityProvider): IdpTrust | null;
  /**
   * A response from `idp` failed signature verification: refetch its metadata (at most once
   * a minute per IdP). True when that changed the certificates it trusts.
   */
  signatureFailed(idp: IdentityProvider): Promise<boolean>;
}

/** A refetch a signature failure can force, per IdP: a forged post cannot make us hammer the IdP. */
const FORCED_REFRESH_INTERVAL_MS = 60_000;
const FETCH_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** First retry after a failed fetch; doubles up to the refresh interval. */
const FIRST_RETRY_MS = 5_000;

interface Outcome {
  /** A usable copy came back. */
  fetched: boolean;
  /** The certificates it trusts are not the previous copy's. */
  changed: boolean;
}

/**
 * The IdPs' trust: static IdPs' from the config (their pinned certificates recorded, and a
 * change since the last start audited), and metadata IdPs' last good copy of their
 * metadata, fetched at start, refreshed every `metadataRefreshMinutes` and when a
 * signature fails. A fetch that fails or brings unusable metadata changes nothing: the
 * last good copy stays (an IdP outage does not become ours), and the reason is logged.
 * Each instance fetches on its own; the last good copy is also kept in the store, so a
 * start during an outage begins with it.
 */
export class IdpTrustService implements IdpTrustSource {
  private readonly copies = new Map<string, IdpTrust>();
  private readonly lastForced = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<Outcome>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly deps: {
      idps: readonly IdentityProvider[];
      rotations: KeyRotationRecorder;
      stored: StoredMetadataCopies;
      clock: Clock;
      logger: Logger;
      metrics: Pick<Metrics, 'samlMetadataFailures'>;
    },
  ) {}

  /** Records pinned certificates and fetches every metadata IdP once; resolves whether or not the fetches worked. */
  async start(): Promise<void> {
    for (const idp of this.deps.idps) {
      if (!idp.metadata) await this.deps.rotations.idpKeys(idp.id, idp.idpCert, 'config');
    }
    const fromMetadata = this.deps.idps.filter((idp) => idp.metadata);
    for (const idp of fromMetadata) {
      const stored = await this.deps.stored.load(idp);
      if (stored) this.copies.set(idp.id, stored);
    }
    await Promise.all(fromMetadata.map((idp) => this.refreshAndSchedule(idp, FIRST_RETRY_MS)));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  current(idp: IdentityProvider): IdpTrust | null {
    if (!idp.metadata) return { entryPoint: idp.entryPoint, idpIssuer: idp.idpIssuer, idpCert: idp.idpCert };
    return this.copies.get(idp.id) ?? null;
  }

  async signatureFailed(idp: IdentityProvider): Promise<boolean> {
    if (!idp.metadata) return false;
    const now = this.deps.clock.now();
    const last = this.lastForced.get(idp.id);
    if (last !== undefined && now - last < FORCED_REFRESH_INTERVAL_MS) return false;
    this.lastForced.set(idp.id, now);
    return (await this.refresh(idp)).changed;
  }

  /** Fetches now and sets the next fetch: the refresh interval after a success, a growing backoff after a failure. */
  private async refreshAndSchedule(idp: IdentityProvider, retryMs: number): Promise<void> {
    const interval = idp.metadata!.refreshMinutes * 60_000;
    const succeeded = await this.refresh(idp).then(
      (outcome) => outcome.fetched,
      (error: unknown) => {
        this.deps.logger.error({ err: error, idp: idp.id }, 'IdP metadata refresh failed');
        return false;
      },
    );
    if (this.closed) return;
    const delay = succeeded ? interval : Math.min(retryMs, interval);
    const timer = setTimeout(() => void this.refreshAndSchedule(idp, succeeded ? FIRST_RETRY_MS : retryMs * 2), delay);
    timer.unref();
    this.timers.set(idp.id, timer);
  }

  /** One fetch at a time per IdP: a refresh asked for while one runs shares its outcome. */
  private refresh(idp: IdentityProvider): Promise<Outcome> {
    const running = this.inFlight.get(idp.id);
    if (running) return running;
    const done = this.fetchAndApply(idp).finally(() => this.inFlight.delete(idp.id));
    this.inFlight.set(idp.id, done);
    return done;
  }

  private async fetchAndApply(idp: IdentityProvider): Promise<Outcome> {
    const source = idp.metadata!;
    let trust: IdpTrust;
    try {
      const body = await guardedGet(
        source.url,
        { maxBytes: METADATA_MAX_BYTES, timeoutMs: FETCH_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS, allowPrivateNetwork: source.allowPrivateNetwork, allowHttp: false, ca: source.ca, accept: 'application/samlmetadata+xml, application/xml' },
        'the metadata URL',
      );
      trust = parseIdpMetadata(body.toString('utf8'), source.expectedIssuer);
    } catch (error) {
      if (!(error instanceof GuardedFetchError || error instanceof IdpMetadataInvalid)) throw error;
      const kept = this.copies.has(idp.id) ? 'the last good copy is kept' : 'no copy yet: its sign-ins are refused';
      this.deps.logger.warn({ idp: idp.id, reason: error.message }, `IdP metadata could not be used; ${kept}`);
      this.deps.metrics.samlMetadataFailures.inc({ idp: idp.id });
      return { fetched: false, changed: false };
    }
    const previous = this.copies.get(idp.id)?.idpCert ?? [];
    const changed = previous.length !== trust.idpCert.length || trust.idpCert.some((c) => !previous.includes(c));
    if (changed) await this.deps.rotations.idpKeys(idp.id, trust.idpCert, 'metadata');
    this.copies.set(idp.id, trust);
    await this.deps.stored.save(idp, trust);
    return { fetched: true, changed };
  }
}
