import type { Logger } from '../log.js';
import { describeEvent } from './message-content.js';
import type { SlackSinkConfig } from './slack-config.js';
import { composeSlack } from './slack-message.js';
import type { SlackMessage } from './slack-message.js';
import type { Delivery, DeliveryOutcome, NotificationSink } from './types.js';

type Failure = Extract<DeliveryOutcome, { ok: false }>;

/** Web API errors that say "later", not "never" (https://api.slack.com/web#evaluating_responses). */
const TRANSIENT_API_ERRORS = new Set(['ratelimited', 'internal_error', 'fatal_error', 'service_unavailable', 'request_timeout']);

/**
 * The Slack sink. With an incoming webhook it posts one message per delivery. With a bot
 * token it posts with chat.postMessage and hands back the message's channel and `ts` as
 * the outcome's memo; a later delivery about the same request (decided, cancelled,
 * expired) carrying that memo rewrites the message with chat.update instead of adding one.
 */
export class SlackSink implements NotificationSink {
  readonly name: string;
  readonly keepsMemo: boolean;

  constructor(
    private readonly config: SlackSinkConfig,
    private readonly logger?: Logger,
  ) {
    this.name = config.name;
    this.keepsMemo = config.webhookUrl === undefined;
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const content = describeEvent(delivery.event);
    const message = composeSlack(content);
    const outcome = this.config.webhookUrl !== undefined ? await this.viaWebhook(this.config.webhookUrl, message, signal) : await this.viaApi(delivery, content.followUp, message, signal);
    if (!outcome.ok) this.logger?.warn({ sink: this.name, delivery: delivery.id, attempt: delivery.attempt, error: outcome.error, retry: outcome.retry }, 'slack: delivery failed');
    return outcome;
  }

  private async viaWebhook(url: string, message: SlackMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const answer = await this.post(url, message, {}, signal);
    return 'ok' in answer ? answer : { ok: true };
  }

  private async viaApi(delivery: Delivery, followUp: boolean, message: SlackMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const posted = delivery.memo;
    const update = followUp && posted !== null && posted.channel !== undefined && posted.ts !== undefined;
    const body = update ? { channel: posted.channel, ts: posted.ts, ...message } : { channel: this.config.channel, ...message };
    const method = update ? 'chat.update' : 'chat.postMessage';
    const answer = await this.post(`${this.config.apiBaseUrl.replace(/\/+$/, '')}/${method}`, body, { authorization: `Bearer ${this.config.botToken ?? ''}` }, signal);
    if ('ok' in answer) return answer;
    const reply = answer.json as { ok?: unknown; error?: unknown; channel?: unknown; ts?: unknown } | null;
    if (reply?.ok === true && typeof reply.channel === 'string' && typeof reply.ts === 'string') return { ok: true, memo: { channel: reply.channel, ts: reply.ts } };
    const error = typeof reply?.error === 'string' && /^[a-z0-9_]{1,64}$/.test(reply.error) ? reply.error : 'unexpected_reply';
    return { ok: false, retry: TRANSIENT_API_ERRORS.has(error), error: `slack ${error}` };
  }

  /** A JSON POST with one deadline and no redirects (a redirect would carry the token or the message elsewhere); a 2xx gives the parsed body. */
  private async post(url: string, body: unknown, headers: Record<string, string>, signal: AbortSignal): Promise<Failure | { json: unknown }> {
    const deadline = AbortSignal.timeout(this.config.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
        body: JSON.stringify(body),
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
}
