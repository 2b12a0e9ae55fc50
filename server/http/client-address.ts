import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import express from 'express';
import type { Express, Request } from 'express';

/** express's `trust proxy` setting of `server.trustedProxies`: none trusted by default, so X-Forwarded-For counts only from them. */
export function trustProxy(trustedProxies: readonly string[]): string[] | false {
  return trustedProxies.length > 0 ? [...trustedProxies] : false;
}

/**
 * The client address express gives a request as `req.ip`, for requests that never pass
 * through express (WebSocket upgrades): the same `trust proxy` setting, so rate limits and
 * the audit log see one address whichever way a client came. Built once, with no app
 * around it: the broker and the GraphQL WebSocket endpoint exist before the app does.
 */
export function clientAddressOf(trustedProxies: readonly string[]): (request: IncomingMessage) => string | undefined {
  const app: Express = express().set('trust proxy', trustProxy(trustedProxies));
  const expressIp = (request: IncomingMessage) => (Object.create(app.request, { headers: { value: request.headers }, socket: { value: request.socket } }) as Request).ip;
  // express's answer depends on the socket's address and X-Forwarded-For alone (proxy-addr,
  // forwarded): a keep-alive connection's next request with the same header gets the same
  // answer without a request view built again (over Streamable HTTP every call is a request).
  const known = new WeakMap<Socket, { forwarded: unknown; address: string | undefined }>();
  return (request) => {
    const forwarded = request.headers['x-forwarded-for'];
    const last = known.get(request.socket);
    if (last !== undefined && last.forwarded === forwarded) return last.address;
    const address = expressIp(request);
    known.set(request.socket, { forwarded, address });
    return address;
  };
}

/** An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4 peers) as its IPv4; any other unchanged. */
export function unmappedAddress(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}
