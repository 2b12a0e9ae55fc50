import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../server/config/schema.js';
import { literalCredentials, redactConfig } from '../../server/config/redact.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { describeOnEachStore } from '../support/each-store.js';
import type { StartServer } from '../support/each-store.js';
import { entraUser, oktaUser, OTHER_SCIM_TOKEN, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';
import { createTestIdp } from '../support/test-idp.js';
import { configTrusting } from '../support/test-idp.js';
import type { TestServer } from '../support/test-server.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

async function scimConfig(): Promise<PortcullisConfig> {
  const [corp, other] = await Promise.all([createTestIdp('corp'), createTestIdp('other')]);
  return configTrusting([corp, other], {
    identityProviders: [
      { ...corp.config, emailDomains: ['example.com'], scim: { token: SCIM_TOKEN } },
      { ...other.config, emailDomains: ['other.example'], scim: { token: OTHER_SCIM_TOKEN } },
    ],
  });
}

describeOnEachStore('SCIM 2.0 endpoint', (start: StartServer) => {
  const servers: TestServer[] = [];
  const broker = async () => {
    const server = await start(await scimConfig());
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  describe('as Entra ID calls it', () => {
    it('answers its first call, a filter on a random userName, with an empty ListResponse', async () => {
      const { url } = await broker();
      const res = await scim(url, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${randomUUID()}"`)}`);
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/^application\/scim\+json/);
      expect(res.body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });
    });

    it('creates a user, finds it by userName, and applies its PATCH shapes (capitalised op, path, string booleans)', async () => {
      const { url } = await broker();
      const created = await scim(url, 'POST', '/Users', { body: entraUser('Test_User@example.com') });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(created.location).toBe(`http://127.0.0.1:8080/scim/v2/Users/${id}`);
      expect(created.body).toMatchObject({ userName: 'Test_User@example.com', active: true, displayName: 'givenName familyName', externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef' });
      // Unknown attributes (roles, name parts, the enterprise extension) are not kept.
      expect(created.body).not.toHaveProperty('roles');

      const found = await scim(url, 'GET', `/Users?filter=${encodeURIComponent('userName eq "test_user@EXAMPLE.com"')}`);
      expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id }] });

      const patched = await scim(url, 'PATCH', `/Users/${id}`, {
        body: {
          schemas: [PATCH_OP],
          Operations: [
            { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updated@example.com' },
            { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
            { op: 'Replace', path: 'active', value: 'False' },
          ],
        },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ active: false, emails: [{ value: 'updated@example.com', type: 'work', primary: true }] });
      expect((await scim(url, 'GET', `/Users/${id}`)).body.active).toBe(false);
      const reactivated = await scim(url, 'PATCH', `/Users/${id}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] } });
      expect(reactivated.body.active).toBe(true);
    });

    it('deletes a user: 204, then 404 in the SCIM error schema, and gone from the listing', async () => {
      const { url } = await broker();
      const id = (await scim(url, 'POST', '/Users', { body: entraUser('gone@example.com') })).body.id as string;
      expect((await scim(url, 'DELETE', `/Users/${id}`)).status).toBe(204);
      const after = await scim(url, 'GET', `/Users/${id}`);
      expect(after.status).toBe(404);
      expect(after.body).toMatchObject({ schemas: [ERROR], status: '404' });
      expect((await scim(url, 'GET', '/Users')).body.totalResults).toBe(0);
      // The IdP may provision the same person again.
      expect((await scim(url, 'POST', '/Users', { body: entraUser('gone@example.com') })).status).toBe(201);
    });

    it('manages group members with Add, Remove by value list and Remove by a members[value eq] path', async () => {
      const { url } = await broker();
      const alice = (await scim(url, 'POST', '/Users', { body: entraUser('alice@example.com') })).body.id as string;
      const bob = (await scim(url, 'POST', '/Users', { body: entraUser('bob@example.com') })).body.id as string;
      const group = await scim(url, 'POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'engineering', meta: { resourceType: 'Group' }, members: [] } });
      expect(group.status).toBe(201);
      const gid = group.body.id as string;
      const add = await scim(url, 'PATCH', `/Groups/${gid}`, { body: { schemas: [PATCH_OP], Operations: [{ name: 'addMember', op: 'Add', path: 'members', value: [{ $ref: null, value: alice }, { $ref: null, value: bob }] }] } });
      expect(add.status).toBe(200);
      expect((add.body.members as { value: string }[]).map((m) => m.value).sort()).toEqual([alice, bob].sort());
      await scim(url, 'PATCH', `/Groups/${gid}`, { body: { schemas: [PATCH_OP], Operations: [{ name: 'removeMember', op: 'Remove', path: 'members', value: [{ $ref: null, value: bob }] }] } });
      const okta = await scim(url, 'PATCH', `/Groups/${gid}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${alice}"]` }] } });
      expect(okta.body.members).toEqual([]);
      const byName = await scim(url, 'GET', `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "engineering"')}`);
      expect(byName.body.Resources).toEqual([expect.not.objectContaining({ members: expect.anything() })]);
      expect(byName.body.Resources![0]).toMatchObject({ id: gid, displayName: 'engineering' });
      expect((await scim(url, 'DELETE', `/Groups/${gid}`)).status).toBe(204);
      expect((await scim(url, 'GET', `/Groups/${gid}`)).status).toBe(404);
    });
  });

  describe('as Okta calls it', () => {
    it('pages with startIndex and count, replaces with PUT, deactivates with a no-path replace', async () => {
      const { url } = await broker();
      const missing = await scim(url, 'GET', `/Users?filter=${encodeURIComponent('userName eq "test.user@example.com"')}&startIndex=1&count=100`);
      expect(missing.body).toMatchObject({ totalResults: 0, startIndex: 1, Resources: [] });
      const ids: string[] = [];
      for (const name of ['a', 'b', 'c']) ids.push((await scim(url, 'POST', '/Users', { body: oktaUser(`${name}@example.com`) })).body.id as string);
      const page = await scim(url, 'GET', '/Users?startIndex=2&count=1');
      expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1, Resources: [{ id: ids[1] }] });

      const put = await scim(url, 'PUT', `/Users/${ids[0]}`, { body: { ...oktaUser('a@example.com'), id: ids[0], displayName: 'Renamed' } });
      expect(put.body).toMatchObject({ id: ids[0], displayName: 'Renamed', active: true });
      const off = await scim(url, 'PATCH', `/Users/${ids[0]}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] } });
      expect(off.body).toMatchObject({ active: false });
    });

    it('refuses a second user with a userName already held (409 uniqueness), whatever its case', async () => {
      const { url } = await broker();
      await scim(url, 'POST', '/Users', { body: oktaUser('dup@example.com') });
      const again = await scim(url, 'POST', '/Users', { body: oktaUser('DUP@example.com') });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
    });
  });

  it('serves minimal discovery documents', async () => {
    const { url } = await broker();
    expect((await scim(url, 'GET', '/ServiceProviderConfig')).body).toMatchObject({ patch: { supported: true }, bulk: { supported: false }, filter: { supported: true } });
    expect(((await scim(url, 'GET', '/ResourceTypes')).body.Resources ?? []).map((r) => r.id)).toEqual(['User', 'Group']);
    expect((await scim(url, 'GET', '/Schemas')).body.totalResults).toBe(2);
  });

  describe('authentication', () => {
    it('refuses a missing, malformed or unknown token with 401 in the SCIM error schema', async () => {
      const { url } = await broker();
      for (const token of [null, 'x', `${SCIM_TOKEN}x`]) {
        const res = await scim(url, 'GET', '/Users', { token });
        expect(res.status).toBe(401);
        expect(res.contentType).toMatch(/^application\/scim\+json/);
        expect(res.body).toMatchObject({ schemas: [ERROR], status: '401' });
      }
      const write = await scim(url, 'POST', '/Users', { token: 'wrong', body: oktaUser('x@example.com') });
      expect(write.status).toBe(401);
      expect((await scim(url, 'GET', '/Users')).body.totalResults).toBe(0);
    });

    it("gives another IdP's token neither sight nor touch of this IdP's users and groups", async () => {
      const { url } = await broker();
      const id = (await scim(url, 'POST', '/Users', { body: oktaUser('alice@example.com') })).body.id as string;
      const gid = (await scim(url, 'POST', '/Groups', { body: { displayName: 'engineering', members: [{ value: id }] } })).body.id as string;
      const other = { token: OTHER_SCIM_TOKEN };
      expect((await scim(url, 'GET', '/Users', other)).body.totalResults).toBe(0);
      expect((await scim(url, 'GET', `/Users?filter=${encodeURIComponent('userName eq "alice@example.com"')}`, other)).body.totalResults).toBe(0);
      expect((await scim(url, 'GET', `/Users/${id}`, other)).status).toBe(404);
      expect((await scim(url, 'PATCH', `/Users/${id}`, { ...other, body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] } })).status).toBe(404);
      expect((await scim(url, 'DELETE', `/Users/${id}`, other)).status).toBe(404);
      expect((await scim(url, 'GET', `/Groups/${gid}`, other)).status).toBe(404);
      // Nor can it put this IdP's user in its own group.
      expect((await scim(url, 'POST', '/Groups', { ...other, body: { displayName: 'x', members: [{ value: id }] } })).status).toBe(400);
      expect((await scim(url, 'GET', `/Users/${id}`)).body).toMatchObject({ active: true });
    });
  });

  describe('malformed requests', () => {
    it('answers 400 with the scimType that says why, and changes nothing', async () => {
      const { url } = await broker();
      const id = (await scim(url, 'POST', '/Users', { body: oktaUser('alice@example.com') })).body.id as string;
      const cases: [string, string, unknown, string][] = [
        ['POST', '/Users', '{"userName": ', 'invalidSyntax'],
        ['POST', '/Users', '[1]', 'invalidSyntax'],
        ['POST', '/Users', { userName: '' }, 'invalidValue'],
        ['POST', '/Users', { userName: 'x@example.com', active: 'maybe' }, 'invalidValue'],
        ['PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [] }, 'invalidValue'],
        ['PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }, { op: 'replace', path: 'active', value: 'nope' }] }, 'invalidValue'],
        ['PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'frobnicate', path: 'active', value: false }] }, 'invalidValue'],
        ['PUT', `/Users/${id}`, { displayName: 'no userName' }, 'invalidValue'],
        ['GET', `/Users?filter=${encodeURIComponent('emails co "x"')}`, undefined, 'invalidFilter'],
      ];
      for (const [method, path, body, scimType] of cases) {
        const res = await scim(url, method, path, { body });
        expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
        expect(res.body).toMatchObject({ schemas: [ERROR], status: '400', scimType });
      }
      const plain = await scim(url, 'POST', '/Users', { body: JSON.stringify(oktaUser('y@example.com')), contentType: 'text/plain' });
      expect(plain.body).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
      const list = await scim(url, 'GET', '/Users');
      expect(list.body.totalResults).toBe(1);
      expect(list.body.Resources![0]).toMatchObject({ id, active: true, displayName: 'Test User' });
    });

    it('refuses a body over the size limit with 413', async () => {
      const { url } = await broker();
      const res = await scim(url, 'POST', '/Groups', { body: { displayName: 'big', members: [{ value: 'x'.repeat(2_000_000) }] } });
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ schemas: [ERROR], status: '413' });
    });
  });
});

describe('identityProviders[].scim.token', () => {
  const base = { server: { publicUrl: 'https://portcullis.example.com' }, store: { dataDir: '/tmp/x' } };
  const idp = (token: string) => ({ id: 'corp', entryPoint: 'https://idp.example.com/sso', idpIssuer: 'https://idp.example.com', idpCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', spEntityId: 'https://portcullis.example.com/saml/corp', scim: { token } });

  it('refuses a token shorter than 32 characters, naming the key', () => {
    const parsed = configSchema.safeParse({ ...base, identityProviders: [idp('short-token')] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain('identityProviders.0.scim.token');
  });

  it('refuses a token with a character a bearer token cannot carry (a space, non-ASCII), naming the key and the rule', () => {
    const tokenIssues = (token: string) => (configSchema.safeParse({ ...base, identityProviders: [idp(token)] }).error?.issues ?? []).filter((i) => i.path.join('.') === 'identityProviders.0.scim.token').map((i) => i.message);
    for (const token of ['scim-corp-7Qm2vX9pL4rT8kW1 nB6yD3hF5jZ0sA', 'scim-corp-7Qm2vX9pL4rT8kW1nB6yD3hF5jZ0sÄ', 'scim-corp-7Qm2vX9pL4rT8kW1\tnB6yD3hF5jZ0sA']) {
      expect(tokenIssues(token)).toEqual(['expected printable ASCII characters without spaces (what a bearer token can carry)']);
    }
    // Surrounding whitespace (a trailing newline of a token file) is trimmed, not refused.
    expect(tokenIssues(`${SCIM_TOKEN}\n`)).toEqual([]);
  });

  it('is redacted from the logged configuration and scrubbed from log lines', async () => {
    const config = await scimConfig();
    expect(JSON.stringify(redactConfig(config))).not.toContain(SCIM_TOKEN);
    expect(literalCredentials(config)).toEqual(expect.arrayContaining([SCIM_TOKEN, OTHER_SCIM_TOKEN]));
  });
});
