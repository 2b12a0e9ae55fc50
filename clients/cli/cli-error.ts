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
