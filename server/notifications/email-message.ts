import { createHash } from 'node:crypto';
import { html } from '../http/html-page.js';
import { describeEvent, oneLine } from './message-content.js';
import type { MessageContent } from './message-content.js';
import type { Delivery } from './types.js';

/**
 * One delivery as an email: subject, plain text, HTML and the threading headers. Only the
 * fields of NotificationEvent appear (never a tool call's parameters, a token or a secret);
 * every value is escaped in the HTML part and kept on one line in the subject and the text part.
 */
export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** The request's first message, when this one follows it (a decision, a cancellation, an expiry). */
  inReplyTo?: string;
}

export function composeEmail(delivery: Delivery, fromDomain: string): EmailMessage {
  const { event } = delivery;
  const content = describeEvent(event);
  const thread = event.request === undefined ? undefined : messageId(`request:${delivery.sink}:${event.request.id}`, fromDomain);
  return {
    // A header value on one line: a line break in a reason must not start a header of its own.
    subject: oneLine(content.subject).slice(0, 200),
    text: textBody(content),
    html: htmlBody(content),
    // The request's one `created` event opens the thread under an id every later message can name without having seen it.
    messageId: thread !== undefined && !content.followUp ? thread : messageId(`delivery:${delivery.id}`, fromDomain),
    ...(thread !== undefined && content.followUp ? { inReplyTo: thread } : {}),
  };
}

/** Stable across retries (a relay or client de-duplicates by it), opaque (ids and names stay out of headers). */
function messageId(seed: string, domain: string): string {
  return `<${createHash('sha256').update(seed).digest('hex').slice(0, 40)}@${domain}>`;
}

/**
 * Only our labels start a line: the lead and every value are put on one line, so a reason
 * (from a requester, or an agent's tool call) or an anomaly summary carrying a line break and
 * "Approve: https://evil.example/…" cannot show a link of its own at the start of a line. The
 * HTML part shows them on one line too (a line break in a <td> is a space). The console links
 * come before the facts: the reviewer meets the genuine Approve before any free text.
 */
function textBody(content: MessageContent): string {
  const width = Math.max(...content.lines.map(([label]) => label.length), 0) + 2;
  return [
    oneLine(content.lead),
    '',
    ...content.links.map((link) => `${link.label}: ${link.url}`),
    '',
    ...content.lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${oneLine(value)}`),
    '',
  ].join('\n');
}

function htmlBody(content: MessageContent): string {
  const rows = content.lines.map(([label, value]) => `<tr><th align="left">${html(label)}</th><td>${html(value)}</td></tr>`).join('');
  const links = content.links.map((link) => `<a href="${html(link.url)}">${html(link.label)}</a>`).join(' &middot; ');
  return `<!doctype html><html><body><p>${html(content.lead)}</p><table>${rows}</table><p>${links}</p></body></html>`;
}
