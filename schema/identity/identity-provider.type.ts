import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A configured identity provider (SAML or OpenID Connect) people can sign in with.' })
export class IdentityProvider {
  @Field(() => ID, { description: 'The IdP id used in /auth/saml/:idp/... or /auth/oidc/:idp/... URLs.' })
  id!: string;

  @Field(() => String, { description: 'Name to show on a sign-in page.' })
  displayName!: string;
}
