import express from 'express';
import type { Router } from 'express';
import type { Logger } from '../log.js';
import type { SlackActions } from './slack-actions.js';

export const SLACK_ACTIONS_PATH = '/integrations/slack/actions';

/** Slack's interaction payloads are small (a message's blocks, a dialog's state): anything larger is not Slack. */
const BODY_LIMIT = '128kb';

/**
 * POST /integrations/slack/actions, Slack's Interactivity request URL. The body is kept raw
 * (the signature is over its exact bytes); the answer goes back at once, and the work that
 * may follow it (the review of an Approve, the Deny dialog) runs after.
 */
export function slackActionRoutes(actions: SlackActions, logger: Logger): Router {
  const router = express.Router();
  router.post(SLACK_ACTIONS_PATH, express.raw({ type: 'application/x-www-form-urlencoded', limit: BODY_LIMIT }), (req, res, next) => {
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    actions
      .handle(rawBody, { timestamp: req.get('x-slack-request-timestamp'), signature: req.get('x-slack-signature') })
      .then(({ status, body, after }) => {
        if (body === undefined) res.status(status).end();
        else res.status(status).json(body);
        after?.().catch((err: unknown) => logger.error({ err }, 'slack: action failed after it was answered'));
      }, next);
  });
  return router;
}
