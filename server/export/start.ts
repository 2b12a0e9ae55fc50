import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Stores } from '../stores/types.js';
import { startAuditExport } from './exporter.js';
import type { AuditExporter, ExporterTiming } from './exporter.js';
import { createTransport } from './transports.js';

export interface AuditExportDeps {
  config: PortcullisConfig;
  stores: Stores;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  baseDir: string;
  timing?: Partial<ExporterTiming>;
}

/** The exporter over `audit.export.sinks`, its counts and lag in the metrics; null (nothing runs) when none is configured. */
export function startConfiguredAuditExport(deps: AuditExportDeps): AuditExporter | null {
  const { config, stores, clock, logger, metrics, baseDir } = deps;
  if (config.audit.export.sinks.length === 0) return null;
  return startAuditExport({
    sinks: config.audit.export.sinks.map((sink) => ({ config: sink, transport: createTransport(sink, { baseDir, clock, logger }) })),
    audit: stores.audit,
    store: stores.exportCursors,
    logger,
    ...(deps.timing ? { timing: deps.timing } : {}),
    onBatch: (sink, outcome, events) => metrics.auditExportEvents.inc({ sink, outcome }, events),
    onLag: (sink, lag) => {
      metrics.auditExportLagSeconds.set({ sink }, lag.seconds);
      metrics.auditExportLagEvents.set({ sink }, lag.events);
    },
  });
}
