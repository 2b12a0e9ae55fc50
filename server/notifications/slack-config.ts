import { z } from 'zod';
import { positiveInt, secretSafeUrl } from '../config/fields.js';
import { DIRECTORY_ENTRY_MAX_AGE_MS } from '../stores/directory-entries.js';
import { sinkName, sinkTimeoutMs } from './sink-config.js';

/**
 * The `slack` variant of `notifications.sinks` (joined to the union in server/config/schema.ts):
 * an incoming webhook (posts only), or a bot token (posts, then updates the message when the
 * request is decided or expires). Both the webhook URL and the token are secrets.
 */

export const slackSinkConfig = z
  .strictObject({
    type: z.literal('slack'),
    name: sinkName,
    /** An incoming webhook (${env:...}): one channel, fixed by Slack when the webhook was made; messages cannot be updated. */
    webhookUrl: secretSafeUrl('an incoming webhook URL').optional(),
    /** A bot token (xoxb-..., by ${env:...}) with chat:write, and the channel (id or name) it posts to. */
    botToken: z.string({ error: 'expected a bot token' }).trim().regex(/^xox[bpe]-[\x21-\x7e]+$/, 'expected a Slack token (xoxb-...)').optional(),
    channel: z.string({ error: 'expected a channel' }).trim().regex(/^[#A-Za-z0-9_.-]{1,80}$/, 'expected a channel id (C...) or name').optional(),
    /**
     * The Slack app's signing secret (${env:...}): with it, Approve and Deny in the message
     * are interactive and decide at POST /integrations/slack/actions (docs/notifications.md).
     */
    signingSecret: z.string({ error: 'expected the Slack app\'s signing secret' }).trim().regex(/^[\x21-\x7e]{16,256}$/, 'expected the Slack app\'s signing secret (16-256 printable characters)').optional(),
    /** The workspace (T...) whose actions are taken, required with signingSecret: another team's, and its members' (users.info team_id), are refused. */
    teamId: z.string({ error: 'expected a team id' }).trim().regex(/^T[A-Z0-9]{2,30}$/, 'expected a Slack team id (T...)').optional(),
    /**
     * How recent the deciding user's last Portcullis sign-in must be: their groups are what
     * their IdP said then. Defaults to `session.ttlSeconds` (a console user signs in as often);
     * at most the user directory's 30 days.
     */
    reviewerSignInMaxAgeSeconds: positiveInt(DIRECTORY_ENTRY_MAX_AGE_MS / 1000).optional(),
    /** Slack's Web API; another base only for a Slack-compatible receiver (tests). */
    apiBaseUrl: secretSafeUrl('the Slack API base URL').default('https://slack.com/api'),
    /** One whole HTTP exchange. */
    timeoutMs: sinkTimeoutMs,
  })
  .superRefine(checkSlackSink);

export type SlackSinkConfig = z.infer<typeof slackSinkConfig>;

/** Exactly one way to post, a channel for a bot, and a bot to act with (users.info, views.open) and a workspace when actions are on (also applied where the sink joins the union of sinks). */
export function checkSlackSink(value: { webhookUrl?: string | undefined; botToken?: string | undefined; channel?: string | undefined; signingSecret?: string | undefined; teamId?: string | undefined; reviewerSignInMaxAgeSeconds?: number | undefined }, ctx: z.RefinementCtx): void {
  if ((value.webhookUrl === undefined) === (value.botToken === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['webhookUrl'], message: 'expected exactly one of webhookUrl and botToken' });
  }
  if (value.botToken !== undefined && value.channel === undefined) {
    ctx.addIssue({ code: 'custom', path: ['channel'], message: 'expected the channel the bot posts to' });
  }
  if (value.signingSecret !== undefined && value.botToken === undefined) {
    ctx.addIssue({ code: 'custom', path: ['signingSecret'], message: 'deciding from Slack needs a botToken (to read the clicking user and open the reason dialog)' });
  }
  if (value.signingSecret !== undefined && value.teamId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['teamId'], message: 'deciding from Slack needs the workspace\'s teamId (T...): only its members may decide' });
  }
  for (const key of ['teamId', 'reviewerSignInMaxAgeSeconds'] as const) {
    if (value[key] !== undefined && value.signingSecret === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${key} goes with signingSecret` });
  }
}
