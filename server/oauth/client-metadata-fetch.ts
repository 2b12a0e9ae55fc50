import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { OAuthError } from './oauth-error.js';

export interface MetadataFetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Development only: http, and loopback or private addresses (a client served on this machine). */
  allowLoopback: boolean;
}

/**
 * Addresses a metadata fetch must never reach: this host, the private networks behind it,
 * link-local (cloud metadata services at 169.254.169.254), carrier-grade NAT, multicast and
 * the reserved ranges. Otherwise a client_id URL turns the broker into a probe of its own
 * network (SSRF).
 */
const INTERNAL = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

/** Whether an address is inside our own or a private network (IPv4-mapped IPv6 judged as its IPv4). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const refused = (why: string) => new OAuthError('invalid_client', `the client metadata document could not be used: ${why}`, 'client_metadata_unavailable');

/**
 * GETs a Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document): https
 * only, no redirects, an address checked at connect time (the lookup the socket uses, so
 * DNS rebinding between a check and the connect gains nothing), a size cap read as the body
 * streams, and one deadline for the whole exchange.
 */
export async function fetchClientMetadata(clientId: string, limits: MetadataFetchLimits): Promise<unknown> {
  const url = new URL(clientId);
  const plainHttpAllowed = limits.allowLoopback && url.protocol === 'http:';
  if (url.protocol !== 'https:' && !plainHttpAllowed) throw refused('the client_id URL must use https');
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0 && !limits.allowLoopback && isInternalAddress(literal)) throw refused('the client_id URL points into a private network');

  const lookup = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const usable = addresses.filter((a) => limits.allowLoopback || !isInternalAddress(a.address));
      if (usable.length === 0) return callback(Object.assign(new Error('the client_id host resolves into a private network'), { code: 'EINTERNAL' }), []);
      if (options.all) callback(null, usable);
      else callback(null, usable[0]!.address, usable[0]!.family);
    });
  };

  const body = await new Promise<Buffer>((resolve, reject) => {
    const fail = (why: string) => {
      req.destroy();
      reject(refused(why));
    };
    const timer = setTimeout(() => fail(`no complete answer within ${limits.timeoutMs} ms`), limits.timeoutMs);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { method: 'GET', lookup, headers: { accept: 'application/json' } }, (res: IncomingMessage) => {
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
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(refused(error.code === 'EINTERNAL' ? 'the client_id host resolves into a private network' : 'the client_id host could not be reached'));
    });
    req.end();
  });
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw refused('not JSON');
  }
}
