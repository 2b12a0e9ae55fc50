import { Field, GraphQLISODateTime, ObjectType } from 'type-graphql';
import { User } from './user.type.js';

@ObjectType({ description: 'The signed-in caller and what the console may show them.' })
export class Viewer {
  @Field(() => User)
  user!: User;

  @Field(() => Boolean, { description: 'Reads every audit event (auditor role and a credential with audit:read); else only their own.' })
  readsAllAudit!: boolean;

  @Field(() => Boolean, { description: 'May review requests on at least one server.' })
  reviewer!: boolean;

  @Field(() => GraphQLISODateTime, { nullable: true, description: "When this sign-in ends (cookie sessions and tokens), for a 'session ends in' hint; null if unknown." })
  signInExpiresAt!: Date | null;
}
