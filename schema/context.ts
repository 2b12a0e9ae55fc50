import type { PubSub } from '@graphql-yoga/subscription';
import type { NotificationService } from '../server/notifications/notification-service.js';
import type { ToolCatalog } from '../broker/tool-catalog.js';
import type { AccessPolicy } from '../server/access/access-policy.js';
import type { AccessExplainer } from '../server/access/access-explainer.js';
import type { AccessService } from '../server/access/access-service.js';
import type { ToolChangeService } from '../server/access/tool-change-service.js';
import type { AccessRequestRecord, GrantRecord } from '../server/access/types.js';
import { ScanBudget } from '../server/audit/audit-service.js';
import type { AuditService } from '../server/audit/audit-service.js';
import type { VerifyReport } from '../server/audit/verify.js';
import type { AnomalyService } from '../server/detection/anomaly-service.js';
import type { Clock } from '../server/clock.js';
import type { PortcullisConfig } from '../server/config/schema.js';
import { UnauthenticatedError } from '../server/errors.js';
import type { Identity } from '../server/identity/index.js';
import type { Principal } from '../server/identity/principal.js';
import type { Logger } from '../server/log.js';
import type { TrustedIdp } from '../server/identity/trusted-idps.js';
import type { Stores } from '../server/stores/types.js';

/** The long-lived services every resolver may call. */
export interface GraphQLServices {
  config: PortcullisConfig;
  stores: Stores;
  clock: Clock;
  logger: Logger;
  identity: Identity;
  identityProviders: readonly TrustedIdp[];
  access: AccessService;
  explainer: AccessExplainer;
  auditService: AuditService;
  policy: AccessPolicy;
  pubSub: PortcullisPubSub;
  /** The servers' tools as the broker reads them (cached a few seconds). */
  toolCatalog: Pick<ToolCatalog, 'tools'>;
  /** Tool definitions changed since they were pinned, and their acceptance. */
  toolChanges: ToolChangeService;
  /** What the outlier detector raised, and suppressions (auditors only). */
  anomalies: AnomalyService;
  /** The notification outbox: deliveries listed, dead letters requeued (auditors only). */
  notifications: NotificationService;
}

/** Topics GraphQL subscriptions listen on (the store's event bus underneath: see AccessEvents). */
export type PortcullisTopics = {
  'access_request.changed': [AccessRequestRecord];
  'grant.changed': [GrantRecord];
};
export type PortcullisPubSub = PubSub<PortcullisTopics>;

/** Built once per HTTP request or graphql-ws operation (operationContext). */
export interface GraphQLContext extends GraphQLServices {
  /** Who is calling; null when no credential was presented. */
  principal: Principal | null;
  /** What the operation's audit listings may scan of the log, all together (aliases would each scan their own). */
  auditScan: ScanBudget;
  /** The operation's one walk of the audit chain, however many aliases ask for it. */
  chainVerification?: Promise<VerifyReport>;
}

export function operationContext(services: GraphQLServices, principal: Principal | null): GraphQLContext {
  return { ...services, principal, auditScan: new ScanBudget() };
}

export function requirePrincipal(ctx: GraphQLContext): Principal {
  if (!ctx.principal) throw new UnauthenticatedError();
  return ctx.principal;
}
