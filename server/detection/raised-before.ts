import type { AuditLog } from '../audit/types.js';
import type { RaisedBefore } from './types.js';

const PAGE = 1000;

/**
 * What a previous evaluator already did after the committed cursor: it may have raised
 * detections (and responded to them) and died before committing. Read back from the log
 * itself, per `data.anomalyId`, so the next evaluator finishes what was started instead
 * of raising it again. A response counts as taken only when it succeeded: one audited as
 * ERROR is tried again.
 */
export async function raisedAfter(audit: Pick<AuditLog, 'read'>, cursor: string | null, signal: AbortSignal): Promise<Map<string, RaisedBefore>> {
  const raised = new Map<string, RaisedBefore>();
  let after = cursor ?? undefined;
  while (!signal.aborted) {
    const page = await audit.read({ after, limit: PAGE });
    for (const event of page) {
      if (event.type !== 'anomaly.detected' && event.type !== 'anomaly.response') continue;
      const id = event.data.anomalyId;
      if (typeof id !== 'string') continue;
      const seen = raised.get(id) ?? { detectedEventId: null, responded: false };
      if (event.type === 'anomaly.detected') seen.detectedEventId ??= event.id;
      else if (event.outcome === 'SUCCESS') seen.responded = true;
      raised.set(id, seen);
    }
    if (page.length < PAGE) break;
    after = page[page.length - 1]!.id;
  }
  return raised;
}

/** What an evaluator that raised nothing for a detection did for it. */
export const NOT_RAISED: RaisedBefore = Object.freeze({ detectedEventId: null, responded: false });
