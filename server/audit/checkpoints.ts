import { z } from 'zod';
import type { AuditKeyRing, AuditSigner } from './seal.js';
import { sealSchema } from './seal.js';
import type { AuditEvent, AuditLogOptions, ChainAnchor } from './types.js';

/**
 * Signed statements about the chain. A checkpoint is an ordinary chained event whose data
 * seals its own `prevHash` (the chain head before it, so all history up to it) and its
 * time; an anchor (where retention made the log start) seals the hash the oldest kept
 * event chains to. Someone who can write the store but lacks the key cannot rewrite what a
 * checkpoint covers without the checkpoint failing, nor forge where the log starts.
 */

export const CHECKPOINT_EVENT = 'audit.checkpoint';

/** `audit.checkpoints.intervalSeconds` when the config leaves it out. */
export const DEFAULT_CHECKPOINT_INTERVAL_SECONDS = 300;

/** The longest gap a verifier tolerates between checkpoints unless told otherwise: three intervals (see CheckpointCoverage in verify.ts). */
export function defaultMaxGapSeconds(intervalSeconds = DEFAULT_CHECKPOINT_INTERVAL_SECONDS): number {
  return 3 * intervalSeconds;
}

/**
 * What a checkpoint states besides its place: `every`, that its broker seals at least that
 * often (seconds) even while idle, so a log whose newest checkpoint is much older than that
 * was cut back (or its broker died); `final`, that the broker stopped cleanly after it.
 * Checkpoints of earlier versions state neither.
 */
export interface CheckpointStatement {
  every?: number;
  final?: true;
}

const checkpointDataSchema = sealSchema.extend({ prevHash: z.string(), every: z.number().int().positive().optional(), final: z.literal(true).optional() });

/** The statement a seal covers: each member signed, so none can be added, dropped or changed. */
function sealed(prevHash: string, { every, final }: CheckpointStatement): Record<string, string> {
  return { prevHash, ...(every === undefined ? {} : { every: String(every) }), ...(final ? { final: 'true' } : {}) };
}

/** The data of the checkpoint chained onto `prevHash` at `time`. */
export function checkpointData(signer: AuditSigner, prevHash: string, time: string, statement: CheckpointStatement): Record<string, unknown> {
  return { prevHash, ...statement, ...signer.seal('checkpoint', sealed(prevHash, statement), time) };
}

/** What a checkpoint event states, or why it does not vouch for the chain before it. */
export function readCheckpoint(event: AuditEvent, keys: AuditKeyRing): { problem: string } | { statement: CheckpointStatement } {
  const data = checkpointDataSchema.safeParse(event.data);
  if (!data.success) return { problem: 'the checkpoint has malformed data' };
  const { prevHash, every, final, ...seal } = data.data;
  if (prevHash !== event.prevHash || seal.time !== event.time) return { problem: 'the checkpoint seals another place in the chain than where it stands' };
  const statement: CheckpointStatement = { ...(every === undefined ? {} : { every }), ...(final ? { final } : {}) };
  const problem = keys.problem('checkpoint', sealed(prevHash, statement), seal);
  return problem ? { problem: `the checkpoint ${problem}` } : { statement };
}

type AnchorStatement = { prevHash: string; lastTrimmedId: string | number };

const anchorStatement = (anchor: AnchorStatement) => ({ prevHash: anchor.prevHash, lastTrimmedId: String(anchor.lastTrimmedId) });

/** What retention adds to the anchor it writes at `now` (epoch ms): its seal when checkpoints are configured, nothing otherwise. */
export function anchorSeal(checkpoints: AuditLogOptions['checkpoints'], anchor: AnchorStatement, now: number): Pick<ChainAnchor, 'seal'> {
  return checkpoints ? { seal: checkpoints.signer.seal('anchor', anchorStatement(anchor), new Date(now).toISOString()) } : {};
}

/** Why an anchor cannot be trusted, or null when its seal holds. */
export function anchorProblem(anchor: ChainAnchor, keys: AuditKeyRing): string | null {
  if (anchor.seal === undefined) return 'the chain-start anchor is not signed: it may hide events removed from the start of the log';
  const problem = keys.problem('anchor', anchorStatement(anchor), anchor.seal);
  return problem && `the chain-start anchor ${problem}`;
}
