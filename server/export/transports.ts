import { resolve } from 'node:path';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { ExportSinkConfig } from './export-config.js';
import { JsonLinesFileTransport } from './jsonl-file.js';
import { OtlpLogsTransport } from './otlp-logs.js';
import { SplunkHecTransport } from './splunk-hec.js';
import { SyslogTlsTransport } from './syslog-tls.js';
import type { ExportTransport } from './types.js';

/** The transport of a configured sink (a new sink type adds its case here). */
export function createTransport(config: ExportSinkConfig, deps: { baseDir: string; clock: Clock; logger: Logger }): ExportTransport {
  switch (config.type) {
    case 'splunk-hec':
      return new SplunkHecTransport(config);
    case 'syslog':
      return new SyslogTlsTransport(config);
    case 'otlp':
      return new OtlpLogsTransport(config, deps.logger);
    case 'file':
      return new JsonLinesFileTransport(config, resolve(deps.baseDir, config.path), () => deps.clock.now());
  }
}
