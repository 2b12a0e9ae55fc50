import type { Logger } from '../log.js';
import { builtOrRefused, describeEvent } from './message-content.js';
import type { SlackSinkConfig } from './slack-config.js';
import { composeSlack } from './slack-message.js';
import type { SlackMessage } from './slack-message.js';
import type { Delivery, DeliveryOutcome, NotificationSink } from './types.js';
import { callSlackApi, postToSlack } from './slack-web-api.js';

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
    const built = builtOrRefused(() => {
      const content = describeEvent(delivery.event);
      // With a signing secret, Approve and Deny are buttons that decide here (slack-actions.ts), not links.
      return { content, message: composeSlack(content, this.config.signingSecret !== undefined ? (delivery.event.request?.id ?? null) : null) };
    });
    if ('ok' in built) return built;
    const { content, message } = built;
    const outcome = this.config.webhookUrl !== undefined ? await this.viaWebhook(this.config.webhookUrl, message, signal) : await this.viaApi(delivery, content.followUp, message, signal);
    if (!outcome.ok) this.logger?.warn({ sink: this.name, delivery: delivery.id, attempt: delivery.attempt, error: outcome.error, retry: outcome.retry }, 'slack: delivery failed');
    return outcome;
  }

  private async viaWebhook(url: string, message: SlackMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const answer = await postToSlack(url, { json: message }, {}, this.config.timeoutMs, signal);
    return 'ok' in answer ? answer : { ok: true };
  }

  private async viaApi(delivery: Delivery, followUp: boolean, message: SlackMessage, signal: AbortSignal): Promise<DeliveryOutcome> {
    const posted = delivery.memo;
    const update = followUp && posted !== null && posted.channel !== undefined && posted.ts !== undefined;
    const body = update ? { channel: posted.channel, ts: posted.ts, ...message } : { channel: this.config.channel, ...message };
    const answer = await callSlackApi(this.config, update ? 'chat.update' : 'chat.postMessage', { json: body }, signal);
    if (!answer.ok) return answer;
    const { channel, ts } = answer.reply;
    return typeof channel === 'string' && typeof ts === 'string' ? { ok: true, memo: { channel, ts } } : { ok: false, retry: false, error: 'slack unexpected_reply' };
  }
}
