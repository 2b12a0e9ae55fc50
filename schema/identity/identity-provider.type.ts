import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ description: 'A configured SAML identity provider people can sign in with.' })
export class IdentityProvider {
  @Field(() => ID, { description: 'The IdP id used in /auth/saml/:idp/... URLs.' })
  id!: string;

  @Field(() => String, { description: 'Name to show on a sign-in page.' })
  displayName!: string;
}
