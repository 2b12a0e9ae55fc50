import { HeaderMap } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { PortcullisError } from '../server/errors.js';
import type { Logger } from '../server/log.js';
import { bearerChallenge } from '../server/http/www-authenticate.js';

const HTTP_STATUS: Partial<Record<PortcullisError['code'], number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  LIMIT_EXCEEDED: 429,
  STORE_UNAVAILABLE: 503,
};

/**
 * A domain error as a GraphQL error: its message, stable code (and input field), and the HTTP status
 * for errors raised before execution (authentication in the context function).
 */
export function toGraphQLError(error: unknown): GraphQLError {
  if (error instanceof PortcullisError) {
    const status = HTTP_STATUS[error.code];
    // A 401 says how to authenticate (RFC 7235 §3.1, RFC 6750 §3): the credential presented was refused.
    const headers = status === 401 ? new HeaderMap([['www-authenticate', bearerChallenge({ error: 'invalid_token', description: error.message })]]) : undefined;
    return new GraphQLError(error.message, { extensions: { ...domainExtensions(error), ...(status ? { http: { status, ...(headers ? { headers } : {}) } } : {}) } });
  }
  return new GraphQLError('internal error', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/** What a client reads of a domain error: its stable code, and the input field it concerns (a form shows it there). */
function domainExtensions(error: PortcullisError): { code: string; field?: string } {
  return error.field === undefined ? { code: error.code } : { code: error.code, field: error.field };
}

/**
 * The one place domain errors become GraphQL errors: a PortcullisError keeps its message
 * and exposes its stable code (and `field`, the input it concerns); anything else is logged and answered as a bare internal
 * error, so no stack, query text or secret leaks to the caller.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof PortcullisError) {
      return { message: original.message, path: formatted.path, extensions: domainExtensions(original) };
    }
    // A GraphQL-level error of the client's own making (syntax, validation, variables,
    // limits): nothing internal in it, shown as is.
    if (original instanceof GraphQLError && original.originalError === undefined && formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR') return formatted;
    const code = formatted.extensions?.code;
    if (code === 'INTERNAL_SERVER_ERROR' || code === undefined) {
      logger.error({ err: original, path: formatted.path }, 'unexpected GraphQL error');
      return { message: 'internal error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    return formatted;
  };
}
