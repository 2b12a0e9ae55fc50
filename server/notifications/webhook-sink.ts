import { createHmac } from 'node:crypto';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { WebhookSinkConfig } from '../config/schema.js';
import type { Delivery, DeliveryOutcome, NotificationSink } from './types.js';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the timestamp signed with the body, so a replay past the receiver's window is refused. */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** 408 and 429 say "later"; a 5xx is the receiver's trouble: worth another try. Other 4xx refuse the delivery itself. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * A signed JSON POST per delivery. The receiver's answer is judged by its status only: its
 * body is discarded unread (never logged, never kept), and a redirect is not followed (a
 * receiver could otherwise point the signed payload elsewhere): it is a refusal.
 */
export class WebhookSink implements NotificationSink {
  readonly name: string;

  constructor(
    private readonly config: WebhookSinkConfig,
    private readonly clock: Clock = systemClock,
  ) {
    this.name = config.name;
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const body = JSON.stringify({ id: delivery.id, event: delivery.event });
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.config.timeoutMs)]);
    let response: Response;
    try {
      response = await fetch(this.config.url, {
        method: 'POST',
        redirect: 'manual',
        signal: timeout,
        headers: {
          'content-type': 'application/json',
          'portcullis-delivery': delivery.id,
          'portcullis-event': delivery.event.type,
          'portcullis-signature': webhookSignature(this.config.secret, Math.floor(this.clock.now() / 1000), body),
        },
        body,
      });
    } catch {
      return { ok: false, retry: true, error: signal.aborted ? 'aborted' : timeout.aborted ? 'timed out' : 'network error' };
    }
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) return { ok: true };
    if (response.status >= 300 && response.status < 400) return { ok: false, retry: false, error: `redirect ${response.status} not followed` };
    return { ok: false, retry: retryable(response.status), error: `HTTP ${response.status}` };
  }
}
