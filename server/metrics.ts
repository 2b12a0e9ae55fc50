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
  /** Audit appends by result (ok, failed): the time a relayed call waits for its record. */
  auditAppendDuration: Histogram<'result'>;
  /** Events this instance appended, by type and outcome: `mcp.request` counts the MCP calls. */
  auditEvents: Counter<'type' | 'outcome'>;
  /** DENIED events by type and reason. */
  denials: Counter<'type' | 'reason'>;
  /** From an audit event to its evaluation by the outlier detector. */
  detectorLag: Histogram;
}

/** What the gauges read when Prometheus scrapes. */
export interface LiveReadings {
  /** Live MCP sessions on this instance. */
  sessions(): number;
  /** Seconds the store took to answer a ping; null when it did not. */
  storePing(): Promise<number | null>;
  store: 'embedded' | 'redis';
  /** Notification outbox entries not yet delivered nor dead (shared by every instance); null without sinks. */
  notificationsPending(): Promise<number> | null;
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
      help: 'Audit events sent to an export sink, by sink and outcome (delivered: acknowledged; failed: in a try not acknowledged, sent again later; stubbed: refused as too large, sent as a stub naming it).',
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
    auditAppendDuration: new Histogram({
      name: 'portcullis_audit_append_duration_seconds',
      help: 'Audit appends until durable, by result (ok, failed).',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    auditEvents: new Counter({
      name: 'portcullis_audit_events_total',
      help: 'Audit events appended by this instance, by type and outcome (type mcp.request: MCP calls).',
      labelNames: ['type', 'outcome'],
      registers: [registry],
    }),
    denials: new Counter({
      name: 'portcullis_denials_total',
      help: 'Refusals recorded (DENIED audit events), by event type and reason.',
      labelNames: ['type', 'reason'],
      registers: [registry],
    }),
    detectorLag: new Histogram({
      name: 'portcullis_detector_lag_seconds',
      help: 'Time from an audit event to its evaluation by the outlier detector (on the instance holding its lease).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
      registers: [registry],
    }),
  };
}

/** The gauges read at scrape time: live sessions, store health, the notification queue. */
export function registerLiveGauges(metrics: Metrics, readings: LiveReadings): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'portcullis_mcp_sessions',
    help: 'Live MCP sessions on this instance.',
    registers,
    collect() {
      this.set(readings.sessions());
    },
  });
  // One ping per scrape feeds both: the store's health costs the hot path nothing.
  let ping: Promise<number | null> | null = null;
  const pinged = () => (ping ??= readings.storePing().finally(() => setImmediate(() => (ping = null))));
  new Gauge({
    name: 'portcullis_store_up',
    help: 'Whether the store (embedded or redis) answered a ping at scrape time: 1 up, 0 down.',
    labelNames: ['store'],
    registers,
    async collect() {
      this.set({ store: readings.store }, (await pinged()) === null ? 0 : 1);
    },
  });
  new Gauge({
    name: 'portcullis_store_ping_seconds',
    help: 'Round trip of a ping to the store at scrape time (unset when it did not answer).',
    labelNames: ['store'],
    registers,
    async collect() {
      this.reset();
      const seconds = await pinged();
      if (seconds !== null) this.set({ store: readings.store }, seconds);
    },
  });
  new Gauge({
    name: 'portcullis_notification_queue',
    help: 'Notification outbox entries waiting for delivery (the outbox is shared: every instance reports the same).',
    registers,
    async collect() {
      const pending = readings.notificationsPending();
      // Without sinks there is no queue; a store that does not answer leaves the gauge unset (store_up says why).
      if (pending) this.set(await pending.catch(() => Number.NaN));
    },
  });
}
