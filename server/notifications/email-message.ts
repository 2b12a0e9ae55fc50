import { createHash } from 'node:crypto';
import { html } from '../http/html-page.js';
import { formatDuration } from '../text/durations.js';
import type { Delivery, NotificationEvent } from './types.js';

/**
 * One delivery as an email: subject, plain text, HTML and the threading headers. Only the
 * fields of NotificationEvent appear (never a tool call's parameters, a token or a secret);
 * every value is escaped in the HTML part and kept on one line in the subject.
 */
export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** The request's first message, when this one follows it (a decision, a cancellation, an expiry). */
  inReplyTo?: string;
}

type Line = readonly [label: string, value: string];
interface Link {
  label: string;
  url: string;
}
interface Content {
  subject: string;
  lead: string;
  lines: Line[];
  links: Link[];
}

const DONE: Partial<Record<NotificationEvent['type'], string>> = {
  'access_request.cancelled': 'cancelled',
  'access_request.expired': 'expired',
};

export function composeEmail(delivery: Delivery, fromDomain: string): EmailMessage {
  const { event } = delivery;
  const content = contentOf(event);
  const request = event.request;
  const first = request !== undefined && event.type === 'access_request.created';
  const thread = request === undefined ? undefined : messageId(`request:${delivery.sink}:${request.id}`, fromDomain);
  return {
    subject: oneLine(content.subject),
    text: textBody(content),
    html: htmlBody(content),
    // The request's one `created` event opens the thread under an id every later message can name without having seen it.
    messageId: first && thread !== undefined ? thread : messageId(`delivery:${delivery.id}`, fromDomain),
    ...(thread !== undefined && !first ? { inReplyTo: thread } : {}),
  };
}

/** Stable across retries (a relay or client de-duplicates by it), opaque (ids and names stay out of headers). */
function messageId(seed: string, domain: string): string {
  return `<${createHash('sha256').update(seed).digest('hex').slice(0, 40)}@${domain}>`;
}

function contentOf(event: NotificationEvent): Content {
  const links = consoleLinks(event);
  const { request, anomaly } = event;
  if (request !== undefined) {
    const who = `${request.requester} on ${request.server}`;
    const facts: Line[] = [
      ['Requester', request.requester],
      ['Server', request.server],
      ['Tools', request.tools.length > 0 ? request.tools.join(', ') : '(all the server allows)'],
      ['Duration', formatDuration(request.durationSeconds)],
      ['Reason', request.reason],
    ];
    if (event.type === 'access_request.created') {
      return { subject: `Access request: ${who}`, lead: `${request.requester} asks for access to ${request.server}.`, lines: facts, links };
    }
    const outcome = DONE[event.type] ?? request.status;
    const by = event.actor !== null && event.type === 'access_request.reviewed' ? ` by ${event.actor}` : '';
    return { subject: `Access request ${outcome}: ${who}`, lead: `The request was ${outcome}${by}.`, lines: [['Status', request.status], ...facts], links };
  }
  if (anomaly !== undefined) {
    return {
      subject: `Anomaly (${anomaly.severity}): ${anomaly.rule} for ${anomaly.user}`,
      lead: anomaly.summary,
      lines: [['Rule', anomaly.rule], ['Severity', anomaly.severity], ['User', anomaly.user], ['Event', event.type]],
      links,
    };
  }
  return { subject: `Portcullis: ${event.type}`, lead: `${event.type} at ${event.time}.`, lines: event.actor === null ? [] : [['Actor', event.actor]], links };
}

function consoleLinks(event: NotificationEvent): Link[] {
  const links: Link[] = [];
  if (event.links.approve !== undefined) links.push({ label: 'Approve', url: event.links.approve });
  if (event.links.deny !== undefined) links.push({ label: 'Deny', url: event.links.deny });
  links.push({ label: 'Open in the console', url: event.links.console });
  return links;
}

function textBody(content: Content): string {
  const width = Math.max(...content.lines.map(([label]) => label.length), 0) + 2;
  return [
    content.lead,
    '',
    ...content.lines.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`),
    '',
    ...content.links.map((link) => `${link.label}: ${link.url}`),
    '',
  ].join('\n');
}

function htmlBody(content: Content): string {
  const rows = content.lines.map(([label, value]) => `<tr><th align="left">${html(label)}</th><td>${html(value)}</td></tr>`).join('');
  const links = content.links.map((link) => `<a href="${html(link.url)}">${html(link.label)}</a>`).join(' &middot; ');
  return `<!doctype html><html><body><p>${html(content.lead)}</p><table>${rows}</table><p>${links}</p></body></html>`;
}

/** A header value on one line: a line break in a reason must not start a header of its own. */
function oneLine(value: string): string {
  return value.replace(/\s+/g, ' ').trim().slice(0, 200);
}
