import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { InvalidInputError, UnauthenticatedError } from '../errors.js';
import type { ApiTokenRecord, OneTimeValueStore } from '../stores/types.js';
import type { ApiTokenService } from './api-tokens.js';
import { hashSecret } from './credentials.js';
import type { LoginSessionService } from './login-sessions.js';
import { sameSecret, s256 } from './pkce.js';
import { withAddress } from './principal.js';
import type { Principal } from './principal.js';

/** Long enough for a browser redirect and one POST; a code is worthless after it. */
const CODE_TTL_MS = 60_000;
/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** 32 bytes in base64url: an S256 challenge (a SHA-256 digest) and a login code alike. */
const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;
const MAX_NAME_LENGTH = 100;

interface CodeRecord {
  sessionId: string;
  challenge: string;
}

/**
 * `portcullis login` from a terminal, the loopback-redirect way of RFC 8252 with PKCE
 * (RFC 7636): the browser signs in by SAML, the broker redirects it to the CLI's listener
 * on 127.0.0.1 with a one-time code, and the CLI trades that code and its secret verifier
 * for an `api,mcp` token. The token never passes through the browser (history, extensions,
 * referrers), and a code seen by anyone else is useless without the verifier.
 */
export class CliLoginService {
  constructor(
    private readonly deps: { codes: OneTimeValueStore; sessions: LoginSessionService; tokens: ApiTokenService; clock: Clock },
  ) {}

  static isChallenge(value: unknown): value is string {
    return typeof value === 'string' && BASE64URL_32_BYTES.test(value);
  }

  /** A code for the signed-in browser session, bound to the CLI's PKCE challenge. */
  async issueCode(principal: Principal, challenge: string): Promise<string> {
    if (principal.credential.kind !== 'session') throw new UnauthenticatedError('a CLI login is completed by a browser session');
    if (!CliLoginService.isChallenge(challenge)) throw new InvalidInputError('code_challenge must be an S256 challenge');
    const code = randomBytes(32).toString('base64url');
    // Stored by hash: a store dump holds nothing a CLI could redeem.
    const record: CodeRecord = { sessionId: principal.credential.id, challenge };
    await this.deps.codes.put(hashSecret(code), JSON.stringify(record), this.deps.clock.now() + CODE_TTL_MS);
    return code;
  }

  /**
   * Trades a code (once) and its verifier for a token that expires no later than the
   * browser session it came from. (Signing out of the browser does not revoke it:
   * `portcullis logout` does.) `address`: the CLI's, which the token's creation is audited with.
   */
  async exchange(input: { code: unknown; verifier: unknown; name: unknown; address: string | undefined }): Promise<{ token: string; record: ApiTokenRecord }> {
    const { code, verifier } = input;
    if (typeof code !== 'string' || !BASE64URL_32_BYTES.test(code)) throw new InvalidInputError('code is missing or malformed');
    if (typeof verifier !== 'string' || !VERIFIER.test(verifier)) throw new InvalidInputError('code_verifier must be 43 to 128 unreserved characters');
    const name = input.name === undefined ? 'portcullis CLI' : input.name;
    if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_NAME_LENGTH) throw new InvalidInputError(`name must be 1 to ${MAX_NAME_LENGTH} characters`);
    const stored = await this.deps.codes.take(hashSecret(code));
    if (stored === null) throw new UnauthenticatedError('unknown, used or expired login code');
    const record = JSON.parse(stored) as CodeRecord;
    if (!sameSecret(s256(verifier), record.challenge)) throw new UnauthenticatedError('code_verifier does not match the login it claims');
    const session = await this.deps.sessions.find(record.sessionId);
    if (!session) throw new UnauthenticatedError('the browser session ended before the CLI login completed');
    const ttlSeconds = Math.min(this.deps.tokens.maxTtlSeconds, Math.floor((session.expiresAt - this.deps.clock.now()) / 1000));
    if (ttlSeconds < 1) throw new UnauthenticatedError('the browser session ended before the CLI login completed');
    return this.deps.tokens.createForLogin(withAddress(session.principal, input.address), { name, scopes: ['api', 'mcp'], ttlSeconds });
  }
}
