import { Field, GraphQLISODateTime, ID, ObjectType } from 'type-graphql';
import type { TokenFamilyRecord } from '../../server/oauth/types.js';

@ObjectType({
  description:
    'An MCP client the caller connected by OAuth: one approval on the consent page and every token issued from it, through refreshes. Revoking it ends them all at once, and the MCP sessions opened with them.',
})
export class OAuthAuthorization {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The OAuth client id: a registered id (pcc_…) or the URL of the client metadata document.' })
  clientId!: string;

  @Field(() => String, { description: "The name the client gave itself when it registered: the client's own claim, not checked by Portcullis." })
  clientName!: string;

  @Field(() => String, { description: 'The MCP endpoint (RFC 8707 resource) its tokens are bound to.' })
  resource!: string;

  @Field(() => String, { description: 'The granted OAuth scope, space-separated.' })
  scope!: string;

  @Field(() => GraphQLISODateTime, { description: 'When the client redeemed the approval (for authorizations older than this field: the earliest it can have been).' })
  createdAt!: Date;

  @Field(() => GraphQLISODateTime, { description: 'When it ends at the latest: the end of the sign-in that approved it, or the refresh token lifetime cap.' })
  expiresAt!: Date;

  static from(record: TokenFamilyRecord & { createdAt: number }): OAuthAuthorization {
    return Object.assign(new OAuthAuthorization(), {
      id: record.id,
      clientId: record.clientId,
      clientName: record.clientName,
      resource: record.resource,
      scope: record.scope,
      createdAt: new Date(record.createdAt),
      expiresAt: new Date(record.expiresAt),
    });
  }
}
