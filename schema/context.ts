import type { Clock } from '../server/clock.js';
import type { PortcullisConfig } from '../server/config/schema.js';
import type { Logger } from '../server/log.js';
import type { Stores } from '../server/stores/types.js';

/** What every resolver may use; built once per HTTP request or graphql-ws connection. */
export interface GraphQLContext {
  config: PortcullisConfig;
  stores: Stores;
  clock: Clock;
  logger: Logger;
}

export type GraphQLDependencies = GraphQLContext;
