import { GraphQLError } from 'graphql';
import { illFormedTextAt } from '../server/text/well-formed.js';

/**
 * A GraphQL request (query, variables, operation name, connection params) carrying
 * ill-formed Unicode text is refused before it runs: the text could never be audited
 * (server/text/well-formed.ts), and a mutation that cannot be audited must not happen.
 */
export function illFormedInputError(payload: unknown): GraphQLError | null {
  const at = illFormedTextAt(payload);
  if (at === null) return null;
  return new GraphQLError(`ill-formed Unicode text (a lone UTF-16 surrogate) at ${at.slice(0, 200)}`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}
