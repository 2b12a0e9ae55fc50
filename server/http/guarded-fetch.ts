import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { unmappedAddress } from './client-address.js';

export interface GuardedFetchLimits {
  maxBytes: number;
  /** One deadline for the whole exchange: connect, headers and body. */
  timeoutMs: number;
  /** A shorter deadline for the connection (TCP and TLS) alone: an unreachable host fails fast. */
  connectTimeoutMs?: number;
  /** Loopback and private addresses may be reached (development, tests, lab setups). */
  allowPrivateNetwork: boolean;
  /** Plain http allowed (development only); https otherwise. */
  allowHttp: boolean;
  /** PEM of a private CA to trust for https, besides the system's (verification always on). */
  ca?: string;
  accept: string;
}

/**
 * The CAs an https fetch trusts: Node's own roots, and the private CA besides them when
 * one is given (a `ca` option alone would replace the roots, not add to it). Undefined:
 * Node's default store.
 */
export function trustedCertificates(ca: string | undefined): string[] | undefined {
  return ca === undefined ? undefined : [...rootCertificates, ca];
}

/** OpenSSL's and Node's codes for a server certificate that does not verify (chain, name, validity). */
const TLS_VERIFICATION = /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_)/;

/** Why a guarded fetch failed, in words that name no secret; the caller wraps it in its own typed error. */
export class GuardedFetchError extends Error {}

/**
 * Addresses a fetch on behalf of configuration or a client must never reach: this host,
 * the private networks behind it, link-local (cloud metadata services at 169.254.169.254),
 * carrier-grade NAT, multicast and the reserved ranges. Otherwise a URL turns the broker
 * into a probe of its own network (SSRF).
 */
const INTERNAL = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv4');
}
// IPv6 ranges that embed or translate to an IPv4 address (IPv4-compatible ::/96, NAT64 both
// well-known and local-use, 6to4, Teredo) are refused whole: the IPv4 inside may be internal.
for (const [net, prefix] of [['::', 96], ['100::', 64], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['2001::', 32], ['2001:db8::', 32], ['2002::', 16]] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

/** Whether an address is inside our own or a private network (IPv4-mapped IPv6 judged as its IPv4). */
export function isInternalAddress(address: string): boolean {
  const unmapped = unmappedAddress(address);
  const family = isIP(unmapped);
  if (family === 0) return true;
  return INTERNAL.check(unmapped, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * GETs a document: https only (unless allowed), no redirects, an address checked at
 * connect time (the lookup the socket uses, so DNS rebinding between a check and the
 * connect gains nothing), a size cap read as the body streams, and one deadline for the
 * whole exchange. `what` names the URL in messages ("the client_id URL").
 */
export async function guardedGet(target: string, limits: GuardedFetchLimits, what: string): Promise<Buffer> {
  const url = new URL(target);
  const plainHttpAllowed = limits.allowHttp && url.protocol === 'http:';
  if (url.protocol !== 'https:' && !plainHttpAllowed) throw new GuardedFetchError(`${what} must use https`);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0 && !limits.allowPrivateNetwork && isInternalAddress(literal)) throw new GuardedFetchError(`${what} points into a private network`);
  const privateHost = `the host of ${what} resolves into a private network`;

  const lookup = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const usable = addresses.filter((a) => limits.allowPrivateNetwork || !isInternalAddress(a.address));
      if (usable.length === 0) return callback(Object.assign(new Error(privateHost), { code: 'EINTERNAL' }), []);
      if (options.all) callback(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    });
  };

  return new Promise<Buffer>((resolve, reject) => {
    const fail = (why: string) => {
      req.destroy();
      reject(new GuardedFetchError(why));
    };
    const timer = setTimeout(() => fail(`no complete answer within ${limits.timeoutMs} ms`), limits.timeoutMs);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const ca = trustedCertificates(limits.ca);
    const req = request(url, { method: 'GET', lookup, headers: { accept: limits.accept }, ...(ca ? { ca } : {}) }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) return fail(`the server answered ${res.statusCode ?? 'nothing'} (redirects are not followed)`);
      if (Number(res.headers['content-length'] ?? 0) > limits.maxBytes) return fail(`larger than ${limits.maxBytes} bytes`);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limits.maxBytes) fail(`larger than ${limits.maxBytes} bytes`);
        else chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
      res.on('error', () => {});
    });
    if (limits.connectTimeoutMs !== undefined) {
      const connectTimer = setTimeout(() => fail(`no connection within ${limits.connectTimeoutMs} ms`), limits.connectTimeoutMs);
      req.on('socket', (socket) => socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer)));
      req.on('close', () => clearTimeout(connectTimer));
    }
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new GuardedFetchError(error.code === 'EINTERNAL' ? privateHost : TLS_VERIFICATION.test(error.code ?? '') ? `the TLS certificate of ${what} could not be verified` : `the host of ${what} could not be reached`));
    });
    req.end();
  });
}
