import type { AccessService } from '../access/access-service.js';
import type { ReviewDecision } from '../access/types.js';
import type { Clock } from '../clock.js';
import { PortcullisError } from '../errors.js';
import type { Principal, Principals } from '../identity/principal.js';
import type { Logger } from '../log.js';
import type { AssertionReplayCache, UserDirectoryStore } from '../stores/types.js';
import { formatDuration } from '../text/durations.js';
import type { SlackSinkConfig } from './slack-config.js';
import { SLACK_ACTION_IDS } from './slack-message.js';
import { SLACK_REPLAY_MARK_MS, slackSigners } from './slack-signature.js';
import type { SignatureRefusal } from './slack-signature.js';
import { callSlackApi } from './slack-web-api.js';

/** The Deny dialog: its callback id, and the block and element of its reason. */
const DENY_VIEW = 'portcullis-deny';
const REASON = 'reason';
/** As the API bounds a review's reason. */
const REASON_MAX = 500;
const REQUEST_ID = /^[A-Za-z0-9_-]{1,128}$/;

export type ActionRefusal = SignatureRefusal | 'replayed' | 'malformed' | 'wrong_team' | 'slack_unavailable' | 'slack_user_unusable' | 'email_unconfirmed' | 'no_portcullis_user' | 'sign_in_too_old' | 'ambiguous_user' | 'review_refused' | 'filed_by_agent';

/** What the HTTP edge answers at once, and the work it does after answering (Slack wants its answer within 3 s). */
export interface ActionAnswer {
  status: number;
  body?: unknown;
  after?: () => Promise<void>;
}

/** A Slack sink that decides: it has a signing secret, a bot token to act with, and its workspace. */
export type DecidingSlackSink = SlackSinkConfig & { signingSecret: string; botToken: string; teamId: string };

export interface SlackActionsDeps {
  sinks: readonly DecidingSlackSink[];
  /** Signatures seen within the window, shared by every instance. */
  replay: AssertionReplayCache;
  directory: Pick<UserDirectoryStore, 'byEmail'>;
  principals: Pick<Principals, 'of'>;
  access: Pick<AccessService, 'reviewRequest' | 'getRequest'>;
  /** A sink's reviewerSignInMaxAgeSeconds when it sets none: the console's session lifetime (session.ttlSeconds). */
  signInMaxAgeSeconds: number;
  clock: Clock;
  logger: Logger;
  /** Counts a refusal (metrics), by reason. */
  onRefused: (reason: ActionRefusal) => void;
}

interface Payload {
  type?: unknown;
  team?: { id?: unknown };
  user?: { id?: unknown };
  channel?: { id?: unknown };
  trigger_id?: unknown;
  actions?: { action_id?: unknown; value?: unknown }[];
  view?: { callback_id?: unknown; private_metadata?: unknown; state?: { values?: Record<string, Record<string, { value?: unknown }>> } };
}

/** Who clicked, as Slack says: the user and workspace ids, well-formed. */
interface Clicker {
  user: string;
  team: string;
}

/**
 * Decisions from Slack (issue 19): Approve and Deny buttons of a request's message, and
 * the Deny dialog's reason. A request counts only when signed by a configured sink's
 * signing secret, within the timestamp window, once, from the sink's workspace. The Slack
 * user is matched to a Portcullis user by their verified email (users.info: a full member of
 * that workspace, confirmed, not deleted, not a bot, not a guest nor an external member),
 * through the user directory, as that user stands now and only if they signed in to
 * Portcullis recently enough (their groups are what their IdP said then); the review then
 * goes through AccessService.reviewRequest like any other, so every review rule applies.
 */
export class SlackActions {
  constructor(private readonly deps: SlackActionsDeps) {}

  async handle(rawBody: Buffer, headers: { timestamp: string | undefined; signature: string | undefined }): Promise<ActionAnswer> {
    const now = this.deps.clock.now();
    const signer = slackSigners(
      this.deps.sinks.map((sink) => sink.signingSecret),
      headers,
      rawBody,
      now,
    );
    if ('refusal' in signer) return this.refuse(signer.refusal, {}, { status: 401 });
    // Kept past the time any instance could still accept the signature: a replay is refused on every instance.
    if (!(await this.deps.replay.consume(`slack-action:${headers.signature}`, signer.timestampMs + SLACK_REPLAY_MARK_MS))) return this.refuse('replayed', {}, { status: 401 });
    const payload = parsePayload(rawBody);
    const clicker = payload && clickerOf(payload);
    if (!payload || !clicker) return this.refuse('malformed', {}, { status: 400 });
    // The sink whose secret signed it and whose workspace it came from (config keeps secrets unique; this holds regardless).
    const sink = signer.indexes.map((index) => this.deps.sinks[index]!).find((candidate) => candidate.teamId === clicker.team);
    if (sink === undefined) return this.refuse('wrong_team', clicker, { status: 200 });
    if (payload.type === 'block_actions') return this.buttonClicked(sink, payload, clicker);
    if (payload.type === 'view_submission' && payload.view?.callback_id === DENY_VIEW) return this.denySubmitted(sink, payload, clicker);
    // Other interactions (the console link button's own click) need no answer.
    return { status: 200 };
  }

  private buttonClicked(sink: DecidingSlackSink, payload: Payload, clicker: Clicker): ActionAnswer {
    const action = payload.actions?.[0];
    const requestId = typeof action?.value === 'string' && REQUEST_ID.test(action.value) ? action.value : null;
    const channel = typeof payload.channel?.id === 'string' ? payload.channel.id : null;
    if (requestId === null || (action?.action_id !== SLACK_ACTION_IDS.approve && action?.action_id !== SLACK_ACTION_IDS.deny)) return { status: 200 };
    const tell = (text: string) => (channel === null ? Promise.resolve() : this.ephemeral(sink, channel, clicker.user, text));
    if (action.action_id === SLACK_ACTION_IDS.approve) {
      return {
        status: 200,
        after: async () => {
          const outcome = await this.review(sink, clicker, requestId, 'APPROVE', null);
          if (outcome !== null) await tell(outcome);
        },
      };
    }
    const trigger = typeof payload.trigger_id === 'string' ? payload.trigger_id : null;
    return {
      status: 200,
      after: async () => {
        // Who may not review is told now, not after writing a reason.
        const who = await this.principalOf(sink, clicker);
        if ('refusal' in who) return tell(who.message);
        if (trigger === null) return;
        const opened = await callSlackApi(sink, 'views.open', { json: { trigger_id: trigger, view: denyView(requestId) } }, AbortSignal.timeout(sink.timeoutMs));
        if (!opened.ok) this.deps.logger.warn({ sink: sink.name, error: opened.error }, 'slack: the deny dialog did not open');
      },
    };
  }

  /** The Deny dialog submitted: decided here, errors shown in the dialog (Slack closes it on an empty 200). */
  private async denySubmitted(sink: DecidingSlackSink, payload: Payload, clicker: Clicker): Promise<ActionAnswer> {
    const requestId = typeof payload.view?.private_metadata === 'string' && REQUEST_ID.test(payload.view.private_metadata) ? payload.view.private_metadata : null;
    if (requestId === null) return this.refuse('malformed', clicker, { status: 400 });
    const value = payload.view?.state?.values?.[REASON]?.[REASON]?.value;
    const reason = typeof value === 'string' ? value.trim() : '';
    const inDialog = (message: string): ActionAnswer => ({ status: 200, body: { response_action: 'errors', errors: { [REASON]: message } } });
    if (reason === '') return inDialog('Give the reason for denying: the requester reads it.');
    if (reason.length > REASON_MAX) return inDialog(`At most ${REASON_MAX} characters.`);
    const outcome = await this.review(sink, clicker, requestId, 'DENY', reason);
    return outcome === null ? { status: 200 } : inDialog(outcome);
  }

  /** Reviews as the Slack user's Portcullis user: null when done, else what to tell them. */
  private async review(sink: DecidingSlackSink, clicker: Clicker, requestId: string, decision: ReviewDecision, reason: string | null): Promise<string | null> {
    const who = await this.principalOf(sink, clicker);
    if ('refusal' in who) return who.message;
    try {
      // Its message offers no Approve button (message-content.ts); one posted before that did.
      if (decision === 'APPROVE' && (await this.deps.access.getRequest(who, requestId)).filedByAgent) {
        this.refuse('filed_by_agent', clicker, null);
        return 'Not done: a model filed this request from inside an MCP client. Decide it in the console, where its whole story is.';
      }
      await this.deps.access.reviewRequest(who, { requestId, decision, reason });
      this.deps.logger.info({ sink: sink.name, slackUser: clicker.user, team: clicker.team, user: who.user.id, requestId, decision }, 'slack: request reviewed');
      return null;
    } catch (error) {
      if (!(error instanceof PortcullisError)) throw error;
      this.refuse('review_refused', clicker, null, { code: error.code });
      return error.code === 'NOT_FOUND' ? 'Not done: you may not review this request, or it no longer exists.' : `Not done: ${error.message}.`;
    }
  }

  /**
   * The Portcullis user behind the Slack user: their email as Slack verified it, and
   * exactly one user of that email in the directory who stands now (Principals.of: IdP
   * still trusted, email domain, SCIM), with the roles the config gives them.
   */
  private async principalOf(sink: DecidingSlackSink, clicker: Clicker): Promise<Principal | { refusal: ActionRefusal; message: string }> {
    const refused = (refusal: ActionRefusal, message: string) => {
      this.refuse(refusal, clicker, null);
      return { refusal, message };
    };
    const info = await callSlackApi(sink, 'users.info', { form: { user: clicker.user } }, AbortSignal.timeout(sink.timeoutMs));
    if (!info.ok) return refused('slack_unavailable', 'Not done: Portcullis could not read your Slack profile. Try again, or decide in the console.');
    const user = (info.reply.user ?? {}) as SlackProfile;
    if (!fullMemberOf(user, sink.teamId)) return refused('slack_user_unusable', 'Not done: this Slack account cannot decide requests.');
    const email = typeof user.profile?.email === 'string' ? user.profile.email : null;
    if (user.is_email_confirmed !== true || email === null) return refused('email_unconfirmed', 'Not done: your Slack email is not confirmed, so it cannot name you in Portcullis. Decide in the console.');
    const now = this.deps.clock.now();
    const maxAgeSeconds = sink.reviewerSignInMaxAgeSeconds ?? this.deps.signInMaxAgeSeconds;
    const entries = await this.deps.directory.byEmail(email);
    const recent = entries.filter((entry) => now - entry.lastSeenAt <= maxAgeSeconds * 1000);
    if (entries.length > 0 && recent.length === 0) return refused('sign_in_too_old', `Not done: sign in to Portcullis first (your last sign-in is older than ${formatDuration(maxAgeSeconds)}), then try again.`);
    const credential = { kind: 'integration', integration: 'slack', id: clicker.user, team: clicker.team, expiresAt: now } as const;
    const standing = await Promise.all(recent.map((entry) => this.deps.principals.of(entry.user, new Set(['api']), credential, entry.lastSeenAt)));
    const current = new Map(standing.flatMap((principal) => (principal ? [[principal.user.id, principal] as const] : [])));
    if (current.size === 0) return refused('no_portcullis_user', `Not done: no Portcullis user with the email ${email} has signed in. Sign in to Portcullis first, then try again.`);
    if (current.size > 1) return refused('ambiguous_user', `Not done: ${current.size} Portcullis users (of different identity providers) have the email ${email}. Decide in the console.`);
    return [...current.values()][0]!;
  }

  private async ephemeral(sink: DecidingSlackSink, channel: string, user: string, text: string): Promise<void> {
    const sent = await callSlackApi(sink, 'chat.postEphemeral', { json: { channel, user, text } }, AbortSignal.timeout(sink.timeoutMs));
    if (!sent.ok) this.deps.logger.warn({ sink: sink.name, error: sent.error }, 'slack: could not tell the user');
  }

  /** Logged (ids only, never a secret nor the body) and counted. */
  private refuse<T>(reason: ActionRefusal, clicker: Partial<Clicker>, answer: T, extra: Record<string, string> = {}): T {
    this.deps.logger.warn({ reason, slackUser: clicker.user, team: clicker.team, ...extra }, 'slack: action refused');
    this.deps.onRefused(reason);
    return answer;
  }
}

/** The users.info fields read (https://api.slack.com/methods/users.info). */
interface SlackProfile {
  team_id?: unknown;
  deleted?: unknown;
  is_bot?: unknown;
  is_restricted?: unknown;
  is_ultra_restricted?: unknown;
  is_stranger?: unknown;
  is_email_confirmed?: unknown;
  profile?: { email?: unknown };
}

/**
 * A live, full member of the sink's workspace: not deleted, not a bot, not a guest
 * (restricted, ultra-restricted), not an external member of a shared channel (a stranger, or
 * of another team: Slack Connect, or another workspace of an Enterprise Grid org, even when
 * the payload carries the org). Their email is asserted by their own workspace's admins or
 * its SSO, not ours.
 */
function fullMemberOf(user: SlackProfile, teamId: string): boolean {
  return user.team_id === teamId && user.deleted === false && user.is_bot !== true && user.is_restricted === false && user.is_ultra_restricted === false && user.is_stranger !== true;
}

/** The form's `payload` field, as JSON. */
function parsePayload(rawBody: Buffer): Payload | null {
  try {
    const json = new URLSearchParams(rawBody.toString('utf8')).get('payload');
    const parsed = json === null ? null : (JSON.parse(json) as unknown);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Payload) : null;
  } catch {
    return null;
  }
}

function clickerOf(payload: Payload): Clicker | null {
  const user = payload.user?.id;
  const team = payload.team?.id;
  return typeof user === 'string' && /^[UW][A-Z0-9]{2,30}$/.test(user) && typeof team === 'string' && /^T[A-Z0-9]{2,30}$/.test(team) ? { user, team } : null;
}

/** A modal with one required, bounded reason (https://api.slack.com/surfaces/modals). */
function denyView(requestId: string): unknown {
  return {
    type: 'modal',
    callback_id: DENY_VIEW,
    private_metadata: requestId,
    title: { type: 'plain_text', text: 'Deny the request' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'input',
        block_id: REASON,
        label: { type: 'plain_text', text: 'Reason (the requester reads it)' },
        element: { type: 'plain_text_input', action_id: REASON, multiline: true, max_length: REASON_MAX },
      },
    ],
  };
}
