import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { requireScope } from '../../server/identity/api-tokens.js';
import type { GraphQLContext } from '../context.js';
import { requirePrincipal } from '../context.js';
import { ApiToken, CreatedApiToken } from './api-token.type.js';
import { OAuthAuthorization } from './oauth-authorization.type.js';
import { User } from './user.type.js';
import { Viewer } from './viewer.type.js';

@Resolver()
export class IdentityResolver {
  @Query(() => User, { description: 'The signed-in caller (a token acts as its owner).' })
  me(@Ctx() ctx: GraphQLContext): User {
    const principal = requirePrincipal(ctx);
    requireScope(principal, 'api');
    return User.fromPrincipal(principal);
  }

  @Query(() => Viewer, { description: 'The signed-in caller and what the console may show them.' })
  viewer(@Ctx() ctx: GraphQLContext): Viewer {
    const principal = requirePrincipal(ctx);
    requireScope(principal, 'api');
    const { expiresAt } = principal.credential;
    return Object.assign(new Viewer(), {
      user: User.fromPrincipal(principal),
      readsAllAudit: ctx.auditService.readsAll(principal),
      reviewer: ctx.policy.reviewsAnywhere(principal),
      signInExpiresAt: Number.isSafeInteger(expiresAt) && expiresAt < Number.MAX_SAFE_INTEGER ? new Date(expiresAt) : null,
    });
  }

  @Query(() => [ApiToken], { description: "The caller's live API tokens." })
  async apiTokens(@Ctx() ctx: GraphQLContext): Promise<ApiToken[]> {
    return (await ctx.identity.tokens.list(requirePrincipal(ctx))).map(ApiToken.from);
  }

  @Mutation(() => CreatedApiToken, {
    description: 'Scopes: api (this GraphQL API as the user), mcp (broker connections), audit:read (audit query and subscription).',
  })
  async createApiToken(
    @Arg('name', () => String) name: string,
    @Arg('scopes', () => [String]) scopes: string[],
    @Arg('ttlSeconds', () => Int) ttlSeconds: number,
    @Ctx() ctx: GraphQLContext,
  ): Promise<CreatedApiToken> {
    const created = await ctx.identity.tokens.create(requirePrincipal(ctx), { name, scopes, ttlSeconds });
    return Object.assign(new CreatedApiToken(), { token: created.token, apiToken: ApiToken.from(created.record) });
  }

  @Mutation(() => ApiToken, { description: 'Revokes one of the caller\'s tokens at once.' })
  async revokeApiToken(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<ApiToken> {
    return ApiToken.from(await ctx.identity.tokens.revoke(requirePrincipal(ctx), id));
  }

  @Query(() => [OAuthAuthorization], { description: "The MCP clients the caller connected by OAuth that are still live, oldest first." })
  async oauthAuthorizations(@Ctx() ctx: GraphQLContext): Promise<OAuthAuthorization[]> {
    return (await ctx.identity.oauthTokens.authorizationsOf(requirePrincipal(ctx))).map(OAuthAuthorization.from);
  }

  @Mutation(() => OAuthAuthorization, {
    description: "Revokes one of the caller's OAuth authorizations at once, on every instance: its access and refresh tokens are refused and MCP sessions opened with them close.",
  })
  async revokeOAuthAuthorization(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<OAuthAuthorization> {
    return OAuthAuthorization.from(await ctx.identity.oauthTokens.revokeAuthorization(requirePrincipal(ctx), id));
  }
}
