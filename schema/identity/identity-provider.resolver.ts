import { Ctx, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../context.js';
import { IdentityProvider } from './identity-provider.type.js';

@Resolver(() => IdentityProvider)
export class IdentityProviderResolver {
  // Public on purpose: a sign-in page and `portcullis login` must list IdPs before anyone is signed in.
  @Query(() => [IdentityProvider], { description: 'The identity providers this broker accepts sign-ins from.' })
  identityProviders(@Ctx() ctx: GraphQLContext): IdentityProvider[] {
    return ctx.identityProviders.map((idp) => ({ id: idp.id, displayName: idp.displayName }));
  }
}
