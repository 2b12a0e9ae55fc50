import { networkInterfaces } from 'node:os';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevIdp } from '../../server/dev-idp/dev-idp.js';

/** This machine's own address on a network interface: a connection to it comes from that address, not from loopback. */
const networkAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

const USERS = [{ nameId: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: [] }];

/** A post that names a demo user: answered with a signed response when it is let through. */
const signAs = (base: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/dev-idp/sso`, { method: 'POST', body: new URLSearchParams({ requestId: '_any', nameId: 'alice' }), headers });

// The config keeps a broker with the dev IdP on loopback; these serve its routes on every
// interface, as a port forward or a misread config would expose them.
describe.skipIf(networkAddress === undefined)('the development IdP answers only this machine', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    const devIdp = await createDevIdp({ publicUrl: 'http://127.0.0.1:8080', users: USERS });
    server = express().use(devIdp.router).listen(0, '0.0.0.0');
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('signs a response for a connection from loopback', async () => {
    const res = await signAs(`http://127.0.0.1:${port}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('name="SAMLResponse"');
  });

  it('refuses (403) a connection from a network address, whatever X-Forwarded-For says', async () => {
    const res = await signAs(`http://${networkAddress}:${port}`, { 'x-forwarded-for': '127.0.0.1' });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('SAMLResponse');
    expect((await fetch(`http://${networkAddress}:${port}/dev-idp/sso?SAMLRequest=x`)).status).toBe(403);
  });

  it('refuses a loopback connection that a local proxy relayed for another address', async () => {
    expect((await signAs(`http://127.0.0.1:${port}`, { 'x-forwarded-for': '127.0.0.1, 203.0.113.9' })).status).toBe(403);
  });
});
