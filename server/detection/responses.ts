import type { AccessEvents } from '../access/access-events.js';
import type { AccessService } from '../access/access-service.js';
import { PortcullisError } from '../errors.js';
import { severityRank } from './types.js';
import type { Detection, DetectionConfig, ResponseAction } from './types.js';

/**
 * The response configured for a detection: the first of `detection.responses` whose rule
 * is the detection's (or `*`) and whose minSeverity it reaches. Null when none matches or
 * the match is `record`: the anomaly is recorded and nothing else is done (nor audited).
 */
export function chooseResponse(responses: DetectionConfig['responses'], detection: Pick<Detection, 'rule' | 'severity'>): Exclude<ResponseAction, 'record'> | null {
  const match = responses.find((r) => (r.rule === '*' || r.rule === detection.rule) && severityRank(detection.severity) >= severityRank(r.minSeverity));
  return match === undefined || match.action === 'record' ? null : match.action;
}

export interface ResponderDeps {
  events: AccessEvents;
  access: Pick<AccessService, 'revokeForAnomaly' | 'activeGrantsOf'>;
}

/**
 * What a response does, returning the sentence `anomaly.response` records as its detail.
 * Throws when it could not be done (the raiser audits that as ERROR).
 */
export async function executeResponse(action: Exclude<ResponseAction, 'record'>, detection: Detection, deps: ResponderDeps): Promise<string> {
  return action === 'suspend_session' ? suspendSessions(detection, deps) : revokeGrants(detection, deps);
}

/**
 * Closes the session the detection names (or every live MCP session of its user) on
 * whichever instance holds it, through the same fan-out grant ends take: 4403 `anomaly`,
 * in-flight calls answered with -32001 `anomaly`. The grant stays, so the person may
 * connect again at once: a suspension is a cut that makes them (and their client) start
 * over, not a ban; `revoke_grant` is the ban.
 */
function suspendSessions(detection: Detection, deps: ResponderDeps): string {
  deps.events.sessionsSuspended({ anomalyId: detection.id, user: detection.user, sessionId: detection.sessionId });
  const which = detection.sessionId === null ? `every live MCP session of ${detection.user}` : `session ${detection.sessionId}`;
  // Told to every instance, not counted back: the bus carries no answers.
  return `close of ${which} (4403 anomaly) sent to every instance; grants kept`;
}

/**
 * Revokes the grant behind the detection (or, when it names none, the user's active grants
 * on its server, on every server when it names none either) as the system; live sessions
 * on it close 4403 as at any revocation. A grant that ended meanwhile is reported, not
 * failed: a retried raise finds the grant it revoked the first time.
 */
async function revokeGrants(detection: Detection, deps: ResponderDeps): Promise<string> {
  const ids = detection.grantId !== null ? [detection.grantId] : (await deps.access.activeGrantsOf(detection.user, detection.server)).map((g) => g.id);
  if (ids.length === 0) return `no active grant of ${detection.user}${detection.server === null ? '' : ` on ${detection.server}`} to revoke`;
  const revoked: string[] = [];
  const ended: string[] = [];
  for (const id of ids) {
    try {
      await deps.access.revokeForAnomaly(id, detection);
      revoked.push(id);
    } catch (error) {
      if (!(error instanceof PortcullisError && error.code === 'GRANT_NOT_ACTIVE')) throw error;
      ended.push(id);
    }
  }
  return [revoked.length > 0 ? `grant ${revoked.join(', ')} revoked` : '', ended.length > 0 ? `grant ${ended.join(', ')} had already ended` : ''].filter(Boolean).join('; ');
}
