import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { IdentityProviderResolver } from './identity/identity-provider.resolver.js';
import { IdentityResolver } from './identity/identity.resolver.js';

/** The whole API, built from the type-graphql classes; schema/schema.graphql is its print. */
export function buildPortcullisSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [IdentityProviderResolver, IdentityResolver],
    // Input validation happens in the services and zod at the edge, not class-validator.
    validate: false,
  });
}
