import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../support/broker-fixture.js';
import { startReferenceHttpServer } from '../support/reference-http-server.js';
import { bearerProxy, installConformance, runSuite } from './suite.js';
import type { SuiteResult } from './suite.js';

/**
 * The suite run twice: against the reference server directly (over Streamable HTTP), and
 * through the broker's Streamable HTTP endpoint in front of the same server, with a grant
 * for everything it offers.
 */
export async function runBothColumns(): Promise<{ direct: SuiteResult; broker: SuiteResult }> {
  const suite = await installConformance();
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-conformance-'));
  const reference = await startReferenceHttpServer();
  const fx = await startBroker({
    overrides: {
      roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['*'], resources: ['*'], prompts: ['*'], maxDurationSeconds: 3600, autoApprove: true }] }],
      // The suite opens a session per scenario and ends none: past the default per-user cap (16) it would test the cap.
      broker: { maxSessionsPerUser: 200 },
    },
  });
  try {
    await fx.grant({});
    const proxy = await bearerProxy(`${fx.server.url}/mcp/everything`, await fx.token());
    try {
      const direct = await runSuite(suite, reference.url, join(workDir, 'direct'));
      const broker = await runSuite(suite, proxy.url, join(workDir, 'broker'));
      return { direct, broker };
    } finally {
      await proxy.close();
    }
  } finally {
    await fx.close();
    reference.child.kill();
  }
}
