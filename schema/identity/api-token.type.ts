import { Field, GraphQLISODateTime, ID, ObjectType } from 'type-graphql';
import type { ApiTokenRecord } from '../../server/stores/types.js';

@ObjectType({ description: 'An API token (never its secret).' })
export class ApiToken {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => [String], { description: 'api, mcp and/or audit:read.' })
  scopes!: string[];

  @Field(() => GraphQLISODateTime)
  createdAt!: Date;

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;

  static from(record: ApiTokenRecord): ApiToken {
    return Object.assign(new ApiToken(), {
      id: record.id,
      name: record.name,
      scopes: record.scopes,
      createdAt: new Date(record.createdAt),
      expiresAt: new Date(record.expiresAt),
    });
  }
}

@ObjectType()
export class CreatedApiToken {
  @Field(() => String, { description: 'Shown once; only a hash is stored.' })
  token!: string;

  @Field(() => ApiToken)
  apiToken!: ApiToken;
}
