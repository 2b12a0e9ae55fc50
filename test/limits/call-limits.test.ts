import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallAdmission } from '../../broker/core/call-limits.js';
import { configSchema } from '../../server/config/schema.js';
import { ConfiguredCallLimits } from '../../server/limits/call-limits.js';
import { LeaseKeeper } from '../../server/limits/lease-keeper.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';

/** The limits as the broker builds them from `servers` (validated config), on the embedded store. */
async function limitsFor(servers: Record<string, unknown>[]): Promise<ConfiguredCallLimits> {
  const config = configSchema.parse({ server: { publicUrl: 'http://127.0.0.1:8080' }, servers: servers.map((s) => ({ transport: 'stdio', command: 'x', ...s })) });
  const clock = new ManualClock();
  const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-limits-')), clock });
  const leases = new LeaseKeeper({ leases: stores.leases, clock, ttlMs: 60_000 });
  opened.push({ stores, leases });
  return new ConfiguredCallLimits(config.servers, { rateLimits: stores.rateLimits, leases, logger: captureLogs().logger });
}

const opened: { stores: Stores; leases: LeaseKeeper }[] = [];
afterEach(async () => {
  for (const { stores, leases } of opened.splice(0)) {
    leases.close();
    await stores.close();
  }
});

const refusal = (admission: CallAdmission) => ('refused' in admission ? admission.refused : null);

describe('tool-call limits as counted', () => {
  it('admits at once, counting nothing, a call on a server without limits or of a tool no limit covers', async () => {
    const limits = await limitsFor([{ name: 'open' }, { name: 'docs', rateLimits: { tools: { search: { concurrent: 1 } } } }]);
    for (let i = 0; i < 100; i++) {
      const admission = limits.admit({ userId: 'u1', server: 'open', tool: 'search' });
      expect(admission).not.toBeInstanceOf(Promise);
      expect(limits.admit({ userId: 'u1', server: 'docs', tool: 'fetch' })).not.toBeInstanceOf(Promise);
    }
    expect(limits.admit({ userId: 'u1', server: 'docs', tool: 'search' })).toBeInstanceOf(Promise);
  });

  it('counts per user: one person past a limit leaves another alone', async () => {
    const limits = await limitsFor([{ name: 'docs', rateLimits: { calls: 1, windowSeconds: 60 } }]);
    expect(refusal(await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' }))).toBeNull();
    expect(refusal(await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' }))).toMatchObject({ clause: 'servers.docs.rateLimits.calls: 1 per 60 s' });
    expect(refusal(await limits.admit({ userId: 'u2', server: 'docs', tool: 'search' }))).toBeNull();
  });

  it('of several refusals, tells the one with the longest retry-after (no earlier retry could pass)', async () => {
    const limits = await limitsFor([{ name: 'docs', rateLimits: { calls: 1, windowSeconds: 600, tools: { search: { calls: 1, windowSeconds: 10 } } } }]);
    await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' });
    const refused = refusal(await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' }));
    expect(refused?.clause).toBe('servers.docs.rateLimits.calls: 1 per 600 s');
    expect(refused?.retryAfterMs).toBeGreaterThan(10_000);
  });

  it('gives back the places a refused call took under the other limits', async () => {
    const limits = await limitsFor([{ name: 'docs', rateLimits: { concurrent: 1, tools: { search: { calls: 1, windowSeconds: 60 } } } }]);
    const first = await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' });
    if ('refused' in first) throw new Error('first call refused');
    first.release();
    expect(refusal(await limits.admit({ userId: 'u1', server: 'docs', tool: 'search' }))).toMatchObject({ clause: 'servers.docs.rateLimits.tools.search.calls: 1 per 60 s' });
    // Only place under `concurrent: 1`: taken by the refused call, given back with its refusal.
    const other = await limits.admit({ userId: 'u1', server: 'docs', tool: 'fetch' });
    expect(refusal(other)).toBeNull();
    expect(refusal(await limits.admit({ userId: 'u1', server: 'docs', tool: 'fetch' }))).toEqual({ clause: 'servers.docs.rateLimits.concurrent: 1', retryAfterMs: 1000 });
  });
});
