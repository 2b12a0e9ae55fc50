import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SessionCore } from '../../broker/core/session-core.js';
import { GrantSet } from '../../broker/grant-set.js';
import type { Principal } from '../../server/identity/principal.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { auditChain } from '../support/oauth-client.js';
import { alice } from '../stores/store-contract.js';

const idle = { start: async () => {}, send: async () => {}, close: async () => {} };

describe('MCP audit events name the OAuth client acting for the user', () => {
  it('adds data.oauthClient to every session event of a principal that came through an OAuth token, and nothing for an API token', async () => {
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-mcp-audit-')), clock });
    try {
      const { logger } = captureLogs({ level: 'silent' });
      const session = (credential: Principal['credential']) =>
        new SessionCore({ send: () => {}, close: () => {} }, [{ server: 'a', upstream: idle, grants: new GrantSet([]) }], { user: alice, roles: [], scopes: new Set(['mcp']), credential }, { audit: stores.audit, clock, logger, version: 'test', maxInFlight: 256, clientAnswerTimeoutMs: 900_000 }, false);
      const oauth = session({ kind: 'oauth', id: 'at1', expiresAt: clock.now() + 600_000, tokenExpiresAt: clock.now() + 600_000, client: { id: 'pcc_cursor', name: 'Cursor' } });
      await oauth.audit({ type: 'mcp.notification', outcome: 'SUCCESS', data: { method: 'notifications/initialized' } });
      await session({ kind: 'token', id: 't1', expiresAt: clock.now() + 600_000 }).audit({ type: 'mcp.notification', outcome: 'SUCCESS', data: { method: 'notifications/initialized' } });
      const [viaOAuth, viaToken] = await auditChain(stores);
      expect(viaOAuth).toMatchObject({ server: 'a', actor: 'alice@example.com', data: { method: 'notifications/initialized', oauthClient: { id: 'pcc_cursor', name: 'Cursor' } } });
      expect(viaToken!.data).toEqual({ method: 'notifications/initialized' });
    } finally {
      await stores.close();
    }
  });
});
