/**
 * How many calls a person may make (rate limits per user, server and tool, counted across
 * instances): the seam between the session core and whatever counts. A call is admitted
 * before it is audited and forwarded, and its place is given back when it is answered,
 * cancelled or cut off.
 */
export type CallAdmission = { release(): void } | { refused: { clause: string; retryAfterMs: number } };

export interface CallLimits {
  /** Synchronous when nothing is counted for this call, so the relay pays nothing for limits it does not have. */
  admit(call: { userId: string; server: string; tool: string }): CallAdmission | Promise<CallAdmission>;
}

const ADMITTED: CallAdmission = { release: () => {} };

export const NO_CALL_LIMITS: CallLimits = { admit: () => ADMITTED };
