import { createRedactor } from '../../audit/redact.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditLogOptions } from '../../audit/types.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Clock } from '../../clock.js';
import { FlexibleRateLimits } from '../flexible-rate-limits.js';
import { ONE_TIME_VALUE_CAPACITY, SCIM_RESOURCE_CAPACITY, SUPPRESSION_CAPACITY, TOOL_PIN_CAPACITY, USER_DIRECTORY_CAPACITY } from '../types.js';
import type { Stores } from '../types.js';
import { EmbeddedAccessStore } from './access-store.js';
import { EmbeddedAnomalyStore } from './anomaly-store.js';
import { FileAuditLog } from './file-audit-log.js';
import { StateJournal } from './state-journal.js';
import { EmbeddedToolPinStore } from './tool-pin-store.js';
import { DETECTOR_COLLECTIONS, EmbeddedDetectorStateStore } from './detector-state-store.js';
import { EmbeddedNotificationStore, NOTIFICATION_COLLECTIONS } from './notification-store.js';
import { EmbeddedExportCursorStore, EXPORT_COLLECTIONS } from './export-cursor-store.js';
import { EmbeddedLeaseStore } from './lease-store.js';
import { embeddedOAuthStores, OAUTH_COLLECTIONS } from './oauth-stores.js';
import { embeddedScimStore, SCIM_COLLECTIONS } from './scim-store.js';
import { EmbeddedUserDirectory } from './user-directory.js';
import {
  EmbeddedApiTokenStore,
  EmbeddedAssertionReplayCache,
  EmbeddedLoginSessionStore,
  EmbeddedOneTimeValues,
} from './identity-stores.js';

/** The journal's collections: everything the embedded store keeps across restarts besides the audit log. */
const STATE_COLLECTIONS = ['sessions', 'tokens', 'saml-requests', 'cli-login-codes', 'oidc-requests', 'saml-key-sets', 'cursor-keys', 'consumed-assertions', 'access-requests', 'grants', 'tool-pins', 'tool-changes', 'anomalies', 'anomaly-suppressions', ...DETECTOR_COLLECTIONS, ...NOTIFICATION_COLLECTIONS, ...EXPORT_COLLECTIONS, ...OAUTH_COLLECTIONS, ...SCIM_COLLECTIONS, 'user-directory'];

/**
 * Single-instance stores: state in memory and journaled to `dataDir` (state-journal.ts),
 * audit log in `dataDir` too. Leases (this process's live connections) and rate-limit
 * counters stay in memory: after a restart there are no live connections to count.
 */
export async function createEmbeddedStores(options: { dataDir: string; clock: Clock; redact?: Redactor; audit?: AuditLogOptions; oneTimeValueCapacity?: number; toolPinCapacity?: number; suppressionCapacity?: number; userDirectoryCapacity?: number }): Promise<Stores> {
  // The audit log takes the data-dir lock: the journal is opened only under it.
  const audit = await FileAuditLog.open(options.dataDir, options.clock, options.redact ?? createRedactor(), options.audit ?? { retention: false });
  const journal = await StateJournal.open(options.dataDir, options.clock, STATE_COLLECTIONS).catch(async (error: unknown) => {
    await audit.close();
    throw error;
  });
  const capacity = options.oneTimeValueCapacity ?? ONE_TIME_VALUE_CAPACITY;
  return {
    kind: 'embedded',
    sessions: new EmbeddedLoginSessionStore(journal),
    tokens: new EmbeddedApiTokenStore(journal),
    samlRequests: new EmbeddedOneTimeValues(journal, 'saml-requests', capacity),
    cliLoginCodes: new EmbeddedOneTimeValues(journal, 'cli-login-codes', capacity),
    oidcRequests: new EmbeddedOneTimeValues(journal, 'oidc-requests', capacity),
    samlKeySets: new EmbeddedOneTimeValues(journal, 'saml-key-sets', capacity),
    cursorKeys: new EmbeddedOneTimeValues(journal, 'cursor-keys', capacity),
    assertionReplay: new EmbeddedAssertionReplayCache(journal),
    oauth: embeddedOAuthStores(journal, capacity),
    leases: new EmbeddedLeaseStore(options.clock),
    rateLimits: new FlexibleRateLimits(({ name, points, duration }) => new RateLimiterMemory({ keyPrefix: name, points, duration })),
    audit,
    access: new EmbeddedAccessStore(journal),
    toolPins: new EmbeddedToolPinStore(journal, options.toolPinCapacity ?? TOOL_PIN_CAPACITY),
    detector: new EmbeddedDetectorStateStore(journal, options.clock),
    notifications: new EmbeddedNotificationStore(journal),
    exportCursors: new EmbeddedExportCursorStore(journal),
    anomalies: new EmbeddedAnomalyStore(journal, options.suppressionCapacity ?? SUPPRESSION_CAPACITY),
    scim: embeddedScimStore(journal, SCIM_RESOURCE_CAPACITY),
    directory: new EmbeddedUserDirectory(journal, options.clock, options.userDirectoryCapacity ?? USER_DIRECTORY_CAPACITY),
    events: new EventTarget(),
    ping: async () => {
      audit.ping();
      journal.ping();
    },
    waitReady: async () => {},
    close: async () => {
      await journal.close();
      await audit.close();
    },
  };
}
