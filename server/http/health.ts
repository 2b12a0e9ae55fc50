import { Router } from 'express';
import type { Stores } from '../stores/types.js';
import type { Metrics } from '../metrics.js';

/**
 * `/healthz`: the process answers. `/readyz`: it can serve, meaning its store answers and
 * it is not shutting down (a load balancer stops sending it traffic otherwise).
 * `/metrics`: Prometheus text format, for the monitoring network only (docs/deploy.md).
 */
export function healthRoutes(options: { stores: Stores; metrics: Metrics; isShuttingDown: () => boolean }): Router {
  // Exactly these paths: the proxy in front hides /metrics by its path (infra/compose/haproxy.cfg), and
  // express's default routing would also serve it as /METRICS or /metrics/, past a rule that spells it one way.
  const router = Router({ caseSensitive: true, strict: true });
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    if (options.isShuttingDown()) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    try {
      await options.stores.ping();
      res.json({ status: 'ready', store: options.stores.kind });
    } catch {
      res.status(503).json({ status: 'unavailable', store: options.stores.kind, reason: 'store unreachable' });
    }
  });
  router.get('/metrics', async (_req, res) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  return router;
}
