import type { Clock } from '../clock.js';
import type { NotificationSinkConfig } from '../config/schema.js';
import type { NotificationSink } from './types.js';
import { WebhookSink } from './webhook-sink.js';

export interface SinkContext {
  clock: Clock;
}

type SinkFactories = { [T in NotificationSinkConfig['type']]: (config: Extract<NotificationSinkConfig, { type: T }>, context: SinkContext) => NotificationSink };

/** One factory per sink type: a new type (email, Slack) adds its config variant and its line here, and the compiler asks for both. */
const FACTORIES: SinkFactories = {
  webhook: (config, { clock }) => new WebhookSink(config, clock),
};

export function createSink(config: NotificationSinkConfig, context: SinkContext): NotificationSink {
  const factory = FACTORIES[config.type] as (config: NotificationSinkConfig, context: SinkContext) => NotificationSink;
  return factory(config, context);
}
