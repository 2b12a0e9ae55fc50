import { guardedGet, GuardedFetchError } from '../http/guarded-fetch.js';
import { OAuthError } from './oauth-error.js';

export { isInternalAddress } from '../http/guarded-fetch.js';

export interface MetadataFetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Development only: http, and loopback or private addresses (a client served on this machine). */
  allowLoopback: boolean;
}

const refused = (why: string) => new OAuthError('invalid_client', `the client metadata document could not be used: ${why}`, 'client_metadata_unavailable');

/** GETs a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document) with the SSRF guards of http/guarded-fetch.ts. */
export async function fetchClientMetadata(clientId: string, limits: MetadataFetchLimits): Promise<unknown> {
  let body: Buffer;
  try {
    body = await guardedGet(clientId, { ...limits, allowPrivateNetwork: limits.allowLoopback, allowHttp: limits.allowLoopback, accept: 'application/json' }, 'the client_id URL');
  } catch (error) {
    if (error instanceof GuardedFetchError) throw refused(error.message);
    throw error;
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw refused('not JSON');
  }
}
