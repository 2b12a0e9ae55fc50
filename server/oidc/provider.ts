import * as client from 'openid-client';
import type { Clock } from '../clock.js';
import type { OidcIdentityProviderConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { OidcRejection } from './refusal.js';

/** One discovery request may take this long; a sign-in start waits at most for all attempts. */
const DISCOVERY_TIMEOUT_SECONDS = 5;
const DISCOVERY_ATTEMPTS = 3;
const RETRY_DELAY_MS = 250;
/** After a failed discovery, sign-ins are refused at once for this long before the next try (no pile-up on a dead provider). */
const RETRY_AFTER_MS = 30_000;

/**
 * Signature algorithms an ID token may use. Asymmetric only: an HS256 token would be
 * "signed" with the client secret, which is no proof of the provider, and `none` is no
 * signature at all. (oauth4webapi takes a list here at run time, though its type says one.)
 */
const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA'];

/**
 * One OpenID Provider: its discovered metadata (issuer checked against the configured
 * one by openid-client), the client as registered there, and whether it can be reached.
 * Discovery runs at start and again on demand after a failure, so a provider that is
 * down makes only its own sign-ins unavailable, never the broker's start.
 */
export class OidcProvider {
  private configuration: client.Configuration | null = null;
  private pending: Promise<client.Configuration> | null = null;
  private failedAt: number | null = null;

  constructor(
    readonly idp: OidcIdentityProviderConfig,
    private readonly deps: { clock: Clock; logger: Logger },
  ) {}

  /** Begins discovery without waiting for it (the broker's start). */
  warmUp(): void {
    this.discovered().catch(() => undefined);
  }

  /** The client configuration; throws OidcRejection('provider_unavailable') while the provider cannot be discovered. */
  discovered(): Promise<client.Configuration> {
    if (this.configuration) return Promise.resolve(this.configuration);
    if (this.pending) return this.pending;
    if (this.failedAt !== null && this.deps.clock.now() - this.failedAt < RETRY_AFTER_MS) return Promise.reject(new OidcRejection('provider_unavailable'));
    this.pending = this.discoverWithRetries().then(
      (configuration) => {
        this.configuration = configuration;
        this.failedAt = null;
        return configuration;
      },
      (error: unknown) => {
        this.failedAt = this.deps.clock.now();
        this.deps.logger.warn({ idp: this.idp.id, err: error }, 'OIDC provider discovery failed: sign-ins with this IdP are unavailable until it succeeds');
        throw new OidcRejection('provider_unavailable');
      },
    );
    this.pending.finally(() => (this.pending = null)).catch(() => undefined);
    return this.pending;
  }

  private async discoverWithRetries(): Promise<client.Configuration> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.discover();
      } catch (error) {
        if (attempt >= DISCOVERY_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
      }
    }
  }

  private discover(): Promise<client.Configuration> {
    const { idp } = this;
    const issuer = new URL(idp.issuer);
    const metadata: Partial<client.ClientMetadata> = {
      id_token_signed_response_alg: ID_TOKEN_ALGORITHMS as unknown as string,
      // Seconds either way on exp, iat and nbf (the config bounds it).
      [client.clockTolerance]: idp.clockSkewSeconds,
    };
    // Without a secret this is a public client: PKCE alone binds the code to this sign-in.
    const authentication = idp.clientSecret === undefined ? client.None() : client.ClientSecretBasic(idp.clientSecret);
    // The ID token's signature is checked against the provider's JWKS too: TLS to the token
    // endpoint names the provider, but a token no key of its signed proves nothing beyond it.
    // http is allowed by the config only on a loopback address (config/schema.ts).
    const execute = [client.enableNonRepudiationChecks, ...(issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [])];
    return client.discovery(issuer, idp.clientId, metadata, authentication, { timeout: DISCOVERY_TIMEOUT_SECONDS, execute });
  }
}
