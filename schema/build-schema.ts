import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AccessRequestResolver } from './access/access-request.resolver.js';
import { GrantResolver } from './access/grant.resolver.js';
import { AuditResolver } from './audit/audit.resolver.js';
import { McpServerResolver } from './access/mcp-server.resolver.js';
import { ToolChangeResolver } from './access/tool-change.resolver.js';
import type { PortcullisPubSub } from './context.js';
import { AnomalyResolver } from './detection/anomaly.resolver.js';
import { IdentityProviderResolver } from './identity/identity-provider.resolver.js';
import { IdentityResolver } from './identity/identity.resolver.js';
import { NotificationDeliveryResolver } from './notifications/notification-delivery.resolver.js';

/** The whole API, built from the type-graphql classes; schema/schema.graphql is its print. */
/**
 * `pubSub` is the instance's (on the store's event bus). Subscription resolvers take
 * their streams from the context's reference to it, so they can authorise and filter per
 * caller; type-graphql insists on being given one all the same.
 */
export function buildPortcullisSchema(pubSub: PortcullisPubSub): Promise<GraphQLSchema> {
  return buildSchema({
    pubSub,
    resolvers: [IdentityProviderResolver, IdentityResolver, McpServerResolver, AccessRequestResolver, GrantResolver, ToolChangeResolver, AuditResolver, AnomalyResolver, NotificationDeliveryResolver],
    // Input validation happens in the services and zod at the edge, not class-validator.
    validate: false,
  });
}
