/**
 * What the stdio bridge does when the broker ends a session or refuses to open one. The
 * codes are the broker's wire contract (README, "The MCP broker"): RFC 6455 §7.4 codes for
 * transient ends, 4401/4403 for a credential or grant that ended, and HTTP statuses on a
 * refused upgrade, whose plain-text body says why.
 */

/** Why the bridge gave up: told to the person on stderr and to the MCP client as a JSON-RPC error. */
export class BridgeFatal extends Error {
  constructor(
    /** Stable, for `error.data.reason`: `grant_ended`, `credential_ended`, `token_refused`, ... */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BridgeFatal';
  }
}

export type NextStep =
  /** Transient: open a new session after a backoff and rebuild it. `why` completes "portcullis: ...". */
  | { kind: 'reconnect'; why: string }
  /** The broker closed an idle session: open the next one only when the client speaks again, so an idle client holds no upstream. */
  | { kind: 'reconnect-on-next-message'; why: string }
  /** The token ended: go on only if a newer one is at hand (a fresh `portcullis login`). */
  | { kind: 'fatal-unless-fresh-token'; why: string; fatal: BridgeFatal }
  | { kind: 'fatal'; fatal: BridgeFatal };

/** Which endpoint the bridge serves: one server, or every granted one (`undefined`). */
export interface BridgeTarget {
  server: string | undefined;
}

export function afterClose(code: number, reason: string, target: BridgeTarget): NextStep {
  const why = `${code}${reason ? ` ${reason}` : ''}`;
  switch (code) {
    case 1000:
      return { kind: 'reconnect-on-next-message', why: `the broker closed the session (${why})` };
    case 4401:
      return tokenEnded('credential_ended', `the broker ended the session (${why})`);
    case 4403:
      return { kind: 'fatal', fatal: new BridgeFatal('grant_ended', `portcullis: access ended (${why}): request access again with \`portcullis request ${requestHint(target)}\``) };
    default:
      // 4000-4999 are application codes; one this bridge does not know is not retried blindly.
      if (code >= 4000 && code <= 4999) return { kind: 'fatal', fatal: new BridgeFatal('connection_closed', `portcullis: the broker closed the session (${why})`) };
      // 1001 shutting down, 1008 not reading, 1009 frame too large, 1011 upstream failed (or the audit log unwritable), 1006 network.
      return { kind: 'reconnect', why: `connection closed (${why})` };
  }
}

export function afterRefusal(status: number, body: string, target: BridgeTarget): NextStep {
  const why = `${status}${body ? `: ${body}` : ''}`;
  switch (status) {
    case 401:
      return tokenEnded('token_refused', `the broker refused the token (${why})`);
    case 403:
      return { kind: 'fatal', fatal: new BridgeFatal('access_refused', `portcullis: no access (${why}): request access with \`portcullis request ${requestHint(target)}\``) };
    case 404:
      return { kind: 'fatal', fatal: new BridgeFatal('unknown_server', `portcullis: the broker knows no such server (${why}): list them with \`portcullis servers\``) };
    case 429:
      return { kind: 'reconnect', why: `too many live sessions (${why})` };
    default:
      if (status >= 500) return { kind: 'reconnect', why: `the broker cannot open a session now (${why})` };
      return { kind: 'fatal', fatal: new BridgeFatal('connection_refused', `portcullis: the broker refused the connection (${why})`) };
  }
}

function tokenEnded(reason: string, why: string): NextStep {
  return { kind: 'fatal-unless-fresh-token', why, fatal: new BridgeFatal(reason, `portcullis: ${why}: sign in again with \`portcullis login\`, or check PORTCULLIS_TOKEN`) };
}

function requestHint(target: BridgeTarget): string {
  return target.server ?? '<server>';
}
