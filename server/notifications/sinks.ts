import type { Clock } from '../clock.js';
import type { NotificationSinkConfig } from '../config/schema.js';
import type { NotificationSink } from './types.js';
import type { Logger } from '../log.js';
import { EmailSink } from './email-sink.js';
import { SlackSink } from './slack-sink.js';
import { WebhookSink } from './webhook-sink.js';

export interface SinkContext {
  clock: Clock;
  logger: Logger;
}

type SinkFactories = { [T in NotificationSinkConfig['type']]: (config: Extract<NotificationSinkConfig, { type: T }>, context: SinkContext) => NotificationSink };

/** One factory per sink type: a new type adds its config variant and its line here, and the compiler asks for both. */
const FACTORIES: SinkFactories = {
  webhook: (config, { clock }) => new WebhookSink(config, clock),
  email: (config, { logger }) => new EmailSink(config, logger),
  slack: (config, { logger }) => new SlackSink(config, logger),
};

export function createSink(config: NotificationSinkConfig, context: SinkContext): NotificationSink {
  const factory = FACTORIES[config.type] as (config: NotificationSinkConfig, context: SinkContext) => NotificationSink;
  return factory(config, context);
}
