import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startApollo } from '../../schema/apollo.js';
import { buildPortcullisSchema } from '../../schema/build-schema.js';
import type { GraphQLContext } from '../../schema/context.js';
import { createProtection } from '../../schema/limits.js';
import { createGraphQLWebSocketEndpoint } from '../../schema/subscriptions.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { createMetrics } from '../metrics.js';
import type { Stores } from '../stores/types.js';
import { createApp } from './app.js';
import { createUpgradeRouter } from './upgrade-router.js';

export interface PortcullisServer {
  readonly httpServer: Server;
  /** Listens on the configured host and port (port 0 picks a free one). */
  listen(): Promise<AddressInfo>;
  /** Graceful stop: refuse new work, close WebSockets with 1001, drain HTTP. */
  close(): Promise<void>;
}

export interface ServerDependencies {
  config: PortcullisConfig;
  stores: Stores;
  logger: Logger;
  clock: Clock;
  production: boolean;
}

/** One HTTP server: express for HTTP, and WebSocket upgrades routed by path on the same port. */
export async function createPortcullisServer(deps: ServerDependencies): Promise<PortcullisServer> {
  const { config, stores, logger, clock, production } = deps;
  const schema = await buildPortcullisSchema();
  const protection = createProtection(schema, config.graphql, production);
  const context = (): GraphQLContext => ({ config, stores, clock, logger });
  let shuttingDown = false;

  const httpServer = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 });
  const apollo = await startApollo({ schema, httpServer, protection, production, logger });
  const graphqlWs = createGraphQLWebSocketEndpoint({ schema, protection, context, production });
  const app = createApp({ apollo, context, stores, metrics: createMetrics(), logger, isShuttingDown: () => shuttingDown });

  httpServer.on('request', app);
  httpServer.on('upgrade', createUpgradeRouter({ '/graphql': graphqlWs.wss }));

  return {
    httpServer,
    listen: () =>
      new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(config.server.port, config.server.host, () => {
          httpServer.off('error', reject);
          resolve(httpServer.address() as AddressInfo);
        });
      }),
    close: async () => {
      shuttingDown = true;
      await graphqlWs.close();
      // Stops the HTTP server too (drain plugin): in-flight requests finish, idle sockets close.
      await apollo.stop();
    },
  };
}
