import type { AccessPolicy } from '../access/access-policy.js';
import type { Clock } from '../clock.js';
import type { Principals } from '../identity/principal.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Stores } from '../stores/types.js';
import { startDispatcher } from './dispatcher.js';
import type { Dispatcher, DispatcherTiming } from './dispatcher.js';
import { ReviewerRecipients } from './reviewer-recipients.js';
import { createSink } from './sinks.js';

export interface NotificationDeps {
  config: PortcullisConfig;
  stores: Stores;
  policy: AccessPolicy;
  principals: Pick<Principals, 'current'>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  timing?: Partial<DispatcherTiming>;
  random?: () => number;
}

/** The dispatcher over the configured sinks; null (nothing runs) when none is configured. */
export function startNotifications(deps: NotificationDeps): Dispatcher | null {
  const { config, stores, clock, logger, metrics } = deps;
  if (config.notifications.sinks.length === 0) return null;
  return startDispatcher({
    sinks: config.notifications.sinks.map((sinkConfig) => ({ config: sinkConfig, sink: createSink(sinkConfig, { clock, logger }) })),
    audit: stores.audit,
    store: stores.notifications,
    sources: { access: stores.access, reviewers: new ReviewerRecipients({ policy: deps.policy, roles: config.roles, directory: stores.directory, principals: deps.principals }), publicUrl: config.server.publicUrl },
    clock,
    logger,
    ...(deps.timing ? { timing: deps.timing } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    onSettled: (sink, outcome, lagMs) => {
      metrics.notificationDeliveries.inc({ sink, outcome });
      metrics.notificationLag.observe({ sink }, Math.max(0, lagMs) / 1000);
    },
  });
}
