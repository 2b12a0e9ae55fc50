import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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
  /** Audit events exported, by sink and outcome: in acknowledged batches (delivered), in tries not acknowledged (failed). */
  auditExportEvents: Counter<'sink' | 'outcome'>;
  /** Per export sink, the age of the oldest event after its committed cursor, and how many follow it. */
  auditExportLagSeconds: Gauge<'sink'>;
  auditExportLagEvents: Gauge<'sink'>;
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
    auditExportEvents: new Counter({
      name: 'portcullis_audit_export_events_total',
      help: 'Audit events sent to an export sink, by sink and outcome (delivered: acknowledged; failed: in a try not acknowledged, sent again later).',
      labelNames: ['sink', 'outcome'],
      registers: [registry],
    }),
    auditExportLagSeconds: new Gauge({
      name: 'portcullis_audit_export_lag_seconds',
      help: 'Age of the oldest audit event not yet acknowledged by the export sink (0 when caught up).',
      labelNames: ['sink'],
      registers: [registry],
    }),
    auditExportLagEvents: new Gauge({
      name: 'portcullis_audit_export_lag_events',
      help: 'Audit events after the export sink’s acknowledged cursor (counted up to 10000).',
      labelNames: ['sink'],
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
