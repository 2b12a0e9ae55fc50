import { Field, ObjectType } from 'type-graphql';

@ObjectType({ description: 'Cursor pagination: pass endCursor as `after` for the next page.' })
export class PageInfo {
  @Field(() => String, { nullable: true })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}
