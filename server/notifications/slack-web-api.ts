import type { DeliveryOutcome } from './types.js';

export type SlackFailure = Extract<DeliveryOutcome, { ok: false }>;

/** A request body and its content type: JSON for the methods that write, a form for those that read (users.info takes no JSON). */
export type SlackBody = { json: unknown } | { form: Record<string, string> };

/**
 * One POST to Slack (an incoming webhook or a Web API method) with one deadline and no
 * redirects (a redirect would carry the token or the message elsewhere); a 2xx gives the
 * parsed body. Failures are fixed words or a status code, never Slack's body.
 */
export async function postToSlack(url: string, body: SlackBody, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<SlackFailure | { json: unknown }> {
  const deadline = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'json' in body ? 'application/json; charset=utf-8' : 'application/x-www-form-urlencoded', ...headers },
      body: 'json' in body ? JSON.stringify(body.json) : new URLSearchParams(body.form).toString(),
      redirect: 'manual',
      signal: AbortSignal.any([signal, deadline]),
    });
  } catch {
    return { ok: false, retry: true, error: signal.aborted ? 'aborted' : deadline.aborted ? 'slack timed out' : 'slack unreachable' };
  }
  let text: string;
  try {
    text = await response.text();
  } catch {
    return { ok: false, retry: true, error: deadline.aborted ? 'slack timed out' : 'slack unreachable' };
  }
  if (response.status < 200 || response.status > 299) {
    // 408 and 429 (rate limited) will pass later; other 4xx will not (a revoked webhook, a bad payload).
    const retry = response.status >= 500 || response.status === 408 || response.status === 429;
    return { ok: false, retry, error: `slack http ${response.status}` };
  }
  try {
    return { json: JSON.parse(text) as unknown };
  } catch {
    return { json: null };
  }
}

/** Web API errors that say "later", not "never" (https://api.slack.com/web#evaluating_responses). */
const TRANSIENT_API_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/** A Web API method called with the bot token: Slack's `{ ok: true, ... }` reply, or a failure naming Slack's error code. */
export async function callSlackApi(config: { apiBaseUrl: string; botToken?: string | undefined; timeoutMs: number }, method: string, body: SlackBody, signal: AbortSignal): Promise<SlackFailure | { ok: true; reply: Record<string, unknown> }> {
  const answer = await postToSlack(`${config.apiBaseUrl.replace(/\/+$/, '')}/${method}`, body, { authorization: `Bearer ${config.botToken ?? ''}` }, config.timeoutMs, signal);
  if ('ok' in answer) return answer;
  const reply = (typeof answer.json === 'object' && answer.json !== null ? answer.json : {}) as Record<string, unknown>;
  if (reply.ok === true) return { ok: true, reply };
  const error = typeof reply.error === 'string' && /^[a-z0-9_]{1,64}$/.test(reply.error) ? reply.error : 'unexpected_reply';
  return { ok: false, retry: TRANSIENT_API_ERRORS.has(error), error: `slack ${error}` };
}
