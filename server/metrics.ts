import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One registry per server instance (several run in one process in tests). */
export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  /** IdP metadata fetches that failed or brought unusable metadata (the last good copy stayed). */
  samlMetadataFailures: Counter<'idp'>;
  /** Notification tries settled, by sink and outcome (delivered, retry, dead). */
  notificationDeliveries: Counter<'sink' | 'outcome'>;
  /** From the audit event to its settled try, by sink. */
  notificationLag: Histogram<'sink'>;
  /** Slack actions (POST /integrations/slack/actions) refused, by reason. */
  slackActionRefusals: Counter<'reason'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'portcullis_http_requests_total',
      help: 'HTTP requests by method, route and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'portcullis_http_request_duration_seconds',
      help: 'HTTP request duration by method and route.',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    samlMetadataFailures: new Counter({
      name: 'portcullis_saml_metadata_fetch_failures_total',
      help: 'IdP metadata fetches that failed or brought unusable metadata, by IdP (the last good copy was kept).',
      labelNames: ['idp'],
      registers: [registry],
    }),
    notificationDeliveries: new Counter({
      name: 'portcullis_notification_deliveries_total',
      help: 'Notification tries settled, by sink and outcome (delivered, retry, dead).',
      labelNames: ['sink', 'outcome'],
      registers: [registry],
    }),
    notificationLag: new Histogram({
      name: 'portcullis_notification_lag_seconds',
      help: 'Time from the audit event to its settled delivery try, by sink.',
      labelNames: ['sink'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
      registers: [registry],
    }),
    slackActionRefusals: new Counter({
      name: 'portcullis_slack_action_refusals_total',
      help: 'Slack button and dialog actions refused, by reason (bad_signature, stale_timestamp, replayed, wrong_team, email_unconfirmed, no_portcullis_user, review_refused, ...).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
