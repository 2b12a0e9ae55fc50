import { Field, ID, ObjectType } from 'type-graphql';
import type { Principal } from '../../server/identity/principal.js';
import type { UserIdentity } from '../../server/stores/types.js';

@ObjectType({ description: 'A person, as their identity provider described them at sign-in.' })
export class User {
  @Field(() => ID, { description: 'Stable id: `<idp>:<NameID>`.' })
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String, { nullable: true })
  displayName!: string | null;

  @Field(() => String, { description: 'The identity provider the user signed in with.' })
  idp!: string;

  @Field(() => [String], { description: 'Groups asserted by the identity provider.' })
  groups!: string[];

  @Field(() => [String], { description: 'Portcullis roles these groups and this email map to.' })
  roles!: string[];

  static fromPrincipal(principal: Principal): User {
    return User.of(principal.user, principal.roles);
  }

  static of(user: UserIdentity, roles: string[]): User {
    return Object.assign(new User(), { id: user.id, email: user.email, displayName: user.displayName, idp: user.idp, groups: user.groups, roles });
  }
}
