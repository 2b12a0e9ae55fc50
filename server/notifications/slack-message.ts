import { oneLine } from './message-content.js';
import type { MessageContent } from './message-content.js';

/**
 * A Block Kit message (https://api.slack.com/reference/block-kit/blocks): a header, the
 * lead, the facts as fields, and buttons. Every block text is plain_text, each value on one
 * line, its `:codes:` not made emoji: a reason, a tool name or an address (a requester's words) is never read as mrkdwn,
 * so `*`, `_`, `~`, backticks and line breaks in it cannot make a bold "field" of their own
 * beside the real ones, nor a link. The buttons are URL buttons to the console, or, when the sink
 * decides from Slack (a signing secret), Approve and Deny as interactive buttons whose
 * value is the request id, answered at /integrations/slack/actions (slack-actions.ts).
 */
export interface SlackMessage {
  /** The notification and screen-reader text Slack shows when blocks cannot be. */
  text: string;
  blocks: unknown[];
}

/** Block Kit limits: header text 150 characters, a field 2000, a button label 75, at most 10 fields. */
const HEADER_MAX = 150;
const FIELD_MAX = 1_900;
const FIELDS_MAX = 10;

/** The action ids of the interactive buttons (slack-actions.ts reads them back). */
export const SLACK_ACTION_IDS = { approve: 'portcullis-approve', deny: 'portcullis-deny' } as const;

/** Approve asks once more (Slack's confirm dialog): one stray click must not grant access. */
const APPROVE_CONFIRM = {
  title: { type: 'plain_text', text: 'Approve this request?' },
  text: { type: 'plain_text', text: 'Access is granted at once, for the duration asked.' },
  confirm: { type: 'plain_text', text: 'Approve' },
  deny: { type: 'plain_text', text: 'Cancel' },
};

/** `decidingRequest`: the request the buttons decide, when the sink decides from Slack; null for URL buttons only. */
export function composeSlack(content: MessageContent, decidingRequest: string | null = null): SlackMessage {
  // Approved from Slack only on a message that shows all it grants: a fact cut to fit (a long
  // list of tools could hide one past the cut) leaves Approve to the console.
  const shown = content.lines.length <= FIELDS_MAX && content.lines.every(([label, value]) => `${label}\n${oneLine(value)}`.length <= FIELD_MAX);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(content.subject, HEADER_MAX) } },
    { type: 'section', text: { type: 'plain_text', text: clip(oneLine(content.lead), FIELD_MAX), emoji: false } },
  ];
  if (content.lines.length > 0) {
    blocks.push({
      type: 'section',
      fields: content.lines.slice(0, FIELDS_MAX).map(([label, value]) => ({ type: 'plain_text', text: clip(`${label}\n${oneLine(value)}`, FIELD_MAX), emoji: false })),
    });
  }
  blocks.push({
    type: 'actions',
    elements: content.links.map((link, index) => ({
      type: 'button',
      text: { type: 'plain_text', text: link.label },
      ...(link.decides !== undefined && decidingRequest !== null && (shown || link.decides === 'deny')
        ? { action_id: SLACK_ACTION_IDS[link.decides], value: decidingRequest, ...(link.decides === 'approve' ? { confirm: APPROVE_CONFIRM } : {}) }
        : { action_id: `link-${index}`, url: link.url }),
      ...(link.style === undefined ? {} : { style: link.style }),
    })),
  });
  return { text: mrkdwn(clip(content.subject, HEADER_MAX)), blocks };
}

/**
 * The fallback `text` (notifications, screen readers) is read as mrkdwn: Slack reads `<...>`
 * as links and mentions (`<!channel>`, `<@U123>`) and `&` as an entity; escaped, a name
 * cannot ping a channel or disguise a link.
 */
function mrkdwn(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}
