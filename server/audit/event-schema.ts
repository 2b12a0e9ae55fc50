import { z } from 'zod';
import type { AuditEvent } from './types.js';

const HASH = /^[0-9a-f]{64}$/;

/** The shape of a stored audit event, checked whenever one is read back from storage. */
export const auditEventSchema: z.ZodType<AuditEvent> = z.strictObject({
  id: z.string().min(1),
  type: z.string().min(1),
  outcome: z.enum(['SUCCESS', 'DENIED', 'ERROR']),
  actor: z.string().nullable(),
  server: z.string().nullable(),
  tool: z.string().nullable(),
  sessionId: z.string().nullable(),
  data: z.record(z.string(), z.unknown()),
  time: z.string().min(1),
  prevHash: z.string().regex(HASH),
  hash: z.string().regex(HASH),
});
