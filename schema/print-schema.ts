import { lexicographicSortSchema, printSchema } from 'graphql';
import type { GraphQLSchema } from 'graphql';

const HEADER = '# Generated from the type-graphql classes by `npm run codegen`. Do not edit.\n\n';

/** The committed text of schema/schema.graphql for a schema: sorted, so diffs stay stable. */
export function printPortcullisSchema(schema: GraphQLSchema): string {
  return `${HEADER}${printSchema(lexicographicSortSchema(schema))}\n`;
}
