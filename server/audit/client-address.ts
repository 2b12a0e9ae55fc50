import type { Principal } from '../identity/principal.js';
import type { AuditEventInput } from './types.js';

/**
 * `data.clientAddress` of an audit event a client's request caused: the address as express
 * gives it (`req.ip`, which follows X-Forwarded-For only through `server.trustedProxies`;
 * upgrades the same, server/http/client-address.ts). What the broker does on its
 * own (expiry, detection, checkpoints, deliveries) has no client and records none. It lives
 * in `data`, not beside it: the chained fields are what third-party verifiers hash.
 */
export function clientAddressData(address: string | undefined): { clientAddress?: string } {
  return address === undefined ? {} : { clientAddress: address };
}

/** An event a caller's request caused: they are its actor, and their address is in its data. */
export function byCaller(caller: Pick<Principal, 'user' | 'address'>, event: Omit<AuditEventInput, 'actor'>): AuditEventInput {
  return { ...event, actor: caller.user.email, data: { ...event.data, ...clientAddressData(caller.address) } };
}
