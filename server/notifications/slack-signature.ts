import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a request's timestamp may be from our clock (Slack's own advice: https://api.slack.com/authentication/verifying-requests-from-slack). */
export const SLACK_TIMESTAMP_WINDOW_MS = 5 * 60_000;

/**
 * How long a signature is remembered once used: past its window on the clock of the
 * instance that stored it, by the window again plus a minute, so an instance whose clock
 * lags (by up to that much) still finds it while it would accept the timestamp.
 */
export const SLACK_REPLAY_MARK_MS = 2 * SLACK_TIMESTAMP_WINDOW_MS + 60_000;

export type SignatureRefusal = 'signature_missing' | 'stale_timestamp' | 'bad_signature';

/**
 * Which signing secrets signed a request (their indexes in `secrets`), or why none did:
 * `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, under the secret, of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>`; the timestamp is within the window of `now`
 * (a captured request cannot be sent again later; within the window the caller refuses
 * replays). Compared in constant time, over the body's bytes exactly as received.
 */
export function slackSigners(secrets: readonly string[], headers: { timestamp: string | undefined; signature: string | undefined }, rawBody: Buffer, now: number): { indexes: number[]; timestampMs: number } | { refusal: SignatureRefusal } {
  const { timestamp, signature } = headers;
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp) || !/^v0=[0-9a-f]{64}$/.test(signature)) return { refusal: 'signature_missing' };
  const timestampMs = Number(timestamp) * 1000;
  // At the window's very edge already refused: the replay mark is kept past it, never up to it.
  if (Math.abs(now - timestampMs) >= SLACK_TIMESTAMP_WINDOW_MS) return { refusal: 'stale_timestamp' };
  const presented = Buffer.from(signature.slice(3), 'hex');
  const indexes = secrets.flatMap((secret, index) => (timingSafeEqual(presented, createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest()) ? [index] : []));
  return indexes.length === 0 ? { refusal: 'bad_signature' } : { indexes, timestampMs };
}
