/**
 * A failure the CLI reports as one line, `portcullis: CODE: message`, with exit code 1:
 * the broker's own error codes pass through unchanged, the CLI's own are named here.
 */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Whether the broker refused the credential itself: asking again with it cannot succeed, where anything else (a restart, a store outage) may pass. */
export function refusedCredential(error: unknown): boolean {
  return error instanceof CliError && ['UNAUTHENTICATED', 'FORBIDDEN', 'HTTP_401', 'HTTP_403'].includes(error.code);
}
