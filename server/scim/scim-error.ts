/** RFC 7644 §3.12 scimType values this endpoint answers with. */
export type ScimType = 'invalidSyntax' | 'invalidValue' | 'invalidFilter' | 'invalidPath' | 'uniqueness' | 'mutability' | 'noTarget' | 'tooMany';

/**
 * A refused SCIM request, answered in the SCIM error schema (RFC 7644 §3.12) with its HTTP
 * status and, for a 400 or 409, the scimType that says why. `detail` never quotes a secret.
 */
export class ScimError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 413 | 500 | 503,
    readonly scimType: ScimType | null,
    detail: string,
  ) {
    super(detail);
  }

  static invalidValue(detail: string): ScimError {
    return new ScimError(400, 'invalidValue', detail);
  }

  static notFound(what: 'User' | 'Group', id: string): ScimError {
    return new ScimError(404, null, `${what} ${id.slice(0, 64)} not found`);
  }
}
