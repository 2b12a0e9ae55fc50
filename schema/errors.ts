import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { PortcullisError } from '../server/errors.js';
import type { Logger } from '../server/log.js';

/**
 * The one place domain errors become GraphQL errors: a PortcullisError keeps its message
 * and exposes its stable code; anything else is logged and answered as a bare internal
 * error, so no stack, query text or secret leaks to the caller.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof PortcullisError) {
      return { message: original.message, path: formatted.path, extensions: { code: original.code } };
    }
    const code = formatted.extensions?.code;
    if (code === 'INTERNAL_SERVER_ERROR' || code === undefined) {
      logger.error({ err: original, path: formatted.path }, 'unexpected GraphQL error');
      return { message: 'internal error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    return formatted;
  };
}
