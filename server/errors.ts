/**
 * Typed errors with stable codes. The edges (GraphQL, WebSocket, CLI, HTTP) map a code to
 * their protocol once; nothing downstream matches on messages.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'STORE_FULL'
  | 'INVALID_CURSOR'
  | 'AUDIT_LOG_CORRUPT'
  | 'STORE_CORRUPT'
  | 'AUDIT_CONFLICT'
  | 'DATA_DIR_LOCKED'
  | 'DATA_DIR_UNSAFE'
  | 'STORE_UNSUPPORTED'
  | 'AUDIT_LEGACY_LAYOUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'INVALID_INPUT'
  | 'LIMIT_EXCEEDED'
  | 'UNKNOWN_SERVER'
  | 'TOOL_NOT_REQUESTABLE'
  | 'DURATION_TOO_LONG'
  | 'SELF_REVIEW'
  | 'BASIS_REMOVED'
  | 'SIGN_IN_TOO_OLD'
  | 'ALREADY_REVIEWED'
  | 'REQUEST_NOT_PENDING'
  | 'GRANT_NOT_ACTIVE'
  | 'ALREADY_ACKNOWLEDGED'
  | 'EXPORT_NOT_ACKNOWLEDGED';

export class PortcullisError extends Error {
  /** The one input field the refusal is about (its name in the API's input), when it is about one. */
  readonly field: string | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.field = options?.field;
  }
}

/** The store could not be reached within its bounded wait; callers must fail closed. */
export class StoreUnavailableError extends PortcullisError {
  constructor(operation: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', `store unavailable during ${operation}`, { cause });
  }
}

/**
 * A bounded store is at capacity with live entries. New work is refused rather than live
 * entries evicted: evicting would let a flood of unauthenticated requests cancel the
 * logins of real people already under way.
 */
export class StoreFullError extends PortcullisError {
  constructor(message = 'too many sign-ins in progress: try again shortly') {
    super('STORE_FULL', message);
  }
}

export class InvalidCursorError extends PortcullisError {
  constructor(cursor: string, why = 'not issued by this log') {
    super('INVALID_CURSOR', `invalid cursor ${JSON.stringify(cursor.slice(0, 64))}: ${why}`);
  }
}

/**
 * A cursor this log did issue, for events retention has since removed: the reader may go
 * on from the oldest retained event, knowing what it passed over. (One the log never
 * issued, say ahead of its end, is no such thing: starting over would deliver it all again.)
 */
export class TrimmedCursorError extends InvalidCursorError {}

export class AuditLogCorruptError extends PortcullisError {
  constructor(detail: string) {
    super('AUDIT_LOG_CORRUPT', `audit log is corrupt: ${detail}`);
  }
}

/** The embedded store's state file holds something other than what it writes: refused rather than written on. */
export class StoreCorruptError extends PortcullisError {
  constructor(detail: string) {
    super('STORE_CORRUPT', `embedded store state is corrupt: ${detail}`);
  }
}

/** No valid session or token: the caller must sign in. */
export class UnauthenticatedError extends PortcullisError {
  constructor(message = 'sign in first: no valid session or API token') {
    super('UNAUTHENTICATED', message);
  }
}

/** Signed in, but this credential or user may not do this. */
export class ForbiddenError extends PortcullisError {
  constructor(message: string, field?: string) {
    super('FORBIDDEN', message, { field });
  }
}

/** Unknown, or not the caller's: the same answer either way, so ids cannot be probed. */
export class NotFoundError extends PortcullisError {
  constructor(what: string, field?: string) {
    super('NOT_FOUND', `${what} not found`, { field });
  }
}

export class InvalidInputError extends PortcullisError {
  /** `field`: the input field at fault, for a form to show the message next to it. */
  constructor(message: string, field?: string) {
    super('INVALID_INPUT', message, { field });
  }
}

/** A configured cap (sessions, subscriptions, processes) is reached; the message names it. */
export class LimitExceededError extends PortcullisError {
  constructor(message: string) {
    super('LIMIT_EXCEEDED', message);
  }
}

/** A refused access-request or grant operation; the code says which rule refused it. */
export class AccessDeniedError extends PortcullisError {
  constructor(
    code: Extract<ErrorCode, 'UNKNOWN_SERVER' | 'TOOL_NOT_REQUESTABLE' | 'DURATION_TOO_LONG' | 'SELF_REVIEW' | 'BASIS_REMOVED' | 'SIGN_IN_TOO_OLD' | 'ALREADY_REVIEWED' | 'REQUEST_NOT_PENDING' | 'GRANT_NOT_ACTIVE'>,
    message: string,
    field?: string,
  ) {
    super(code, message, { field });
  }
}

/** An anomaly someone already acknowledged: a second acknowledgement would overwrite who did it and why. */
export class AlreadyAcknowledgedError extends PortcullisError {
  constructor(by: string | null) {
    super('ALREADY_ACKNOWLEDGED', `the anomaly was already acknowledged${by ? ` by ${by}` : ''}`, { field: 'id' });
  }
}

/**
 * An audit export receiver did not acknowledge a batch (refused, unreachable, timed out).
 * The message is fixed words and codes, never the receiver's body nor a credential; the
 * exporter tries the same batch again after a backoff (an export never skips an event; one
 * large event refused as too large on its own goes as a stub naming it, exporter.ts).
 */
export class ExportNotAcknowledgedError extends PortcullisError {
  constructor(
    sink: string,
    why: string,
    cause?: unknown,
    /** The receiver refused the batch as too large (HTTP 413): sent again whole, it would be refused for ever. */
    readonly tooLarge = false,
  ) {
    super('EXPORT_NOT_ACKNOWLEDGED', `audit export ${sink}: batch not acknowledged (${why})`, { cause });
  }
}
