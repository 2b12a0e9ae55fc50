import { formatDuration } from '../text/durations.js';
import type { DeliveryOutcome, NotificationEvent } from './types.js';

/**
 * What any message says of an event, before a sink dresses it (email text and HTML, Slack
 * blocks): a title, one sentence, labelled facts and the console links. Built from the
 * NotificationEvent's fields only, so no sink can leak what the event does not carry.
 */
export interface MessageContent {
  /** Also the email subject: one line. */
  subject: string;
  lead: string;
  lines: (readonly [label: string, value: string])[];
  links: { label: string; url: string; style?: 'primary' | 'danger'; /** Which decision the link stands for (a chat sink may make it a button that decides). */ decides?: 'approve' | 'deny' }[];
  /** Whether this event follows a request's first message (a decision, a cancellation, an expiry). */
  followUp: boolean;
}

const DONE: Partial<Record<NotificationEvent['type'], string>> = {
  'access_request.cancelled': 'cancelled',
  'access_request.expired': 'expired',
};

export function describeEvent(event: NotificationEvent): MessageContent {
  const { request, anomaly } = event;
  // Approve and Deny only while the request waits: a decided one offers just its page. One a
  // model filed is approved in the console, where its whole story is: never by a chat button.
  const links = consoleLinks(event, event.type === 'access_request.created', !request?.filedByAgent);
  if (request !== undefined) {
    const who = `${request.requester} on ${request.server}`;
    // Every kind it asks for, and how it came: what the console's review card shows.
    const facts: MessageContent['lines'] = [
      ['Requester', request.requester],
      ['Server', request.server],
      ...(request.filedByAgent ? [['Filed by', `a model in ${request.filedByAgent.client ?? 'an MCP client'} (its name unverified), not ${request.requester} in person: a prompt-injected model could have filed it`] as const] : []),
      ['Tools', request.tools.length > 0 ? request.tools.join(', ') : '(none)'],
      ...(request.resources?.length ? [['Resources', request.resources.join(', ')] as const] : []),
      ...(request.prompts?.length ? [['Prompts', request.prompts.join(', ')] as const] : []),
      ...(request.readOnly ? [['Read-only', 'yes: only tools that are read-only'] as const] : []),
      ['Duration', formatDuration(request.durationSeconds)],
      ['Reason', request.reason],
    ];
    if (event.type === 'access_request.created') {
      const filed = request.filedByAgent ? `A model acting for ${request.requester} asks` : `${request.requester} asks`;
      return { subject: `Access request: ${who}`, lead: `${filed} for access to ${request.server}.`, lines: facts, links, followUp: false };
    }
    const outcome = DONE[event.type] ?? request.status;
    const by = event.actor !== null && event.type === 'access_request.reviewed' ? ` by ${event.actor}` : '';
    return { subject: `Access request ${outcome}: ${who}`, lead: `The request was ${outcome}${by}.`, lines: [['Status', request.status], ...facts.slice(0, 2)], links, followUp: true };
  }
  if (anomaly !== undefined) {
    return {
      subject: `Anomaly (${anomaly.severity}): ${anomaly.rule} for ${anomaly.user}`,
      lead: anomaly.summary,
      lines: [['Rule', anomaly.rule], ['Severity', anomaly.severity], ['User', anomaly.user], ['Event', event.type]],
      links,
      followUp: false,
    };
  }
  return { subject: `Portcullis: ${event.type}`, lead: `${event.type} at ${event.time}.`, lines: event.actor === null ? [] : [['Actor', event.actor]], links, followUp: false };
}

/**
 * A value on one line (every run of white space or control characters, one space): text from
 * a requester cannot start a line of its own. More than \n breaks a line somewhere: a lone CR
 * (nodemailer sends it as CRLF), VT, FF, NEL (U+0085, a C1 control, which \s misses), U+2028
 * and U+2029, and U+001C–U+001E (line boundaries to Python's splitlines).
 */
export function oneLine(value: string): string {
  return value.replace(/[\s\p{Cc}]+/gu, ' ').trim();
}

/** `approvable`: whether Approve may decide where it is shown (a chat button), or only open the console. */
function consoleLinks(event: NotificationEvent, decidable: boolean, approvable: boolean): MessageContent['links'] {
  const links: MessageContent['links'] = [];
  if (decidable && event.links.approve !== undefined) links.push({ label: 'Approve', url: event.links.approve, style: 'primary', ...(approvable ? { decides: 'approve' as const } : {}) });
  if (decidable && event.links.deny !== undefined) links.push({ label: 'Deny', url: event.links.deny, style: 'danger', decides: 'deny' });
  links.push({ label: 'Open in the console', url: event.links.console });
  return links;
}

/**
 * A message built by `build`, or the delivery's final refusal when it cannot be: a delivery
 * queued in a shape its message cannot be made of fails alone, once, instead of being tried
 * again for ever (the dispatcher would take a throw for its own bookkeeping failing).
 */
export function builtOrRefused<T extends object>(build: () => T): T | Extract<DeliveryOutcome, { ok: false }> {
  try {
    return build();
  } catch (error) {
    return { ok: false, retry: false, error: `the message could not be built: ${error instanceof Error ? error.message.slice(0, 200) : 'unknown error'}` };
  }
}
