import { dirname } from 'node:path';
import { systemClock } from './clock.js';
import type { LoadedConfig } from './config/load.js';
import { literalCredentials, redactConfig } from './config/redact.js';
import { createPortcullisServer } from './http/server.js';
import { createLogger, logScrubber } from './log.js';
import { awaitStoreAtStart, createStores } from './stores/index.js';

/**
 * Longest a graceful shutdown may take before the process exits anyway. The deployment
 * artifacts' stop timeouts (infra/compose, infra/k8s) leave it this long, and more.
 */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs the broker until SIGTERM or SIGINT, then shuts down gracefully: readiness turns
 * 503, WebSockets close with 1001, in-flight HTTP requests finish, stores close.
 */
export async function serve(loaded: LoadedConfig): Promise<void> {
  const { config } = loaded;
  const scrubber = logScrubber([...loaded.secrets, ...literalCredentials(config)]);
  const logger = createLogger({ level: config.logging.level, scrubber, traceIds: config.observability.tracing.enabled });
  logger.debug({ config: redactConfig(config) }, 'effective configuration');
  for (const { path, line, message } of loaded.warnings) logger.warn({ path, line }, `configuration: ${message}`);
  const clock = systemClock;
  const stores = await createStores(config, { clock, baseDir: dirname(loaded.file) });
  await awaitStoreAtStart(stores, logger);
  const server = await createPortcullisServer({ config, stores, logger, scrubber, clock, baseDir: dirname(loaded.file) });
  const address = await server.listen();

  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({ url, publicUrl: config.server.publicUrl, store: stores.kind }, 'portcullis listening');
  process.stderr.write(`Portcullis listening on ${url} (public URL ${config.server.publicUrl}, ${stores.kind} store)\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server
      .close()
      .then(() => stores.close())
      .then(() => {
        logger.info('stopped');
        logger.flush(() => process.exit(0));
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        logger.flush(() => process.exit(1));
      });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
