import { afterEach, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { configSchema } from '../../server/config/schema.js';
import { Principals } from '../../server/identity/principal.js';
import { MAX_GROUP_REVIEWERS, ReviewerRecipients } from '../../server/notifications/reviewer-recipients.js';
import type { Stores, UserIdentity } from '../../server/stores/types.js';
import { accessFixture } from '../support/access-fixture.js';
import type { Backend } from '../support/access-fixture.js';
import { describeWithRedis } from '../support/redis.js';

const config = configSchema.parse({
  server: { publicUrl: 'https://portcullis.example.com' },
  roles: [
    { name: 'sre', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
    { name: 'echo-only', members: { groups: ['support'] }, review: [{ server: 'everything', tools: ['echo'] }] },
  ],
  servers: [{ name: 'everything', transport: 'stdio', command: 'node' }],
});

const person = (name: string, groups: string[], idp = 'corp', domain = 'example.com'): UserIdentity => ({ id: `${idp}:${name}`, idp, nameId: name, email: `${name}@${domain}`, displayName: null, groups });
const request = { server: 'everything', requester: 'alice@example.com', tools: ['get-env'], resources: [], prompts: [] };

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function suite(backend: Backend) {
  /** The recipients of the request once `seen` signed in, in this order (the last most recently). */
  async function recipients(seen: UserIdentity[]): Promise<string[]> {
    const fx = await accessFixture(backend, { config });
    const stores: Stores = fx.stores;
    cleanups.push(() => stores.close());
    for (const [i, user] of seen.entries()) await stores.directory.seen(user, fx.clock.now() - seen.length + i);
    // corp may assert example.com addresses only; no other IdP is trusted now.
    const principals = new Principals({ idps: [{ id: 'corp', emailDomains: ['example.com'] }], roles: config.roles });
    return new ReviewerRecipients({ policy: new AccessPolicy(config), roles: config.roles, directory: stores.directory, principals }).addressesFor(request);
  }

  it('reaches the members of a covering group who stand now: not of an IdP no longer trusted, nor an address the IdP may not assert', async () => {
    const found = await recipients([person('erin', ['sre']), person('ghost', ['sre'], 'retired-idp'), person('eve', ['sre'], 'corp', 'elsewhere.example'), person('dave', ['support'])]);
    // dave's role covers echo only, not this request.
    expect(found).toEqual(['erin@example.com']);
  });

  it('leaves the requester out, even when they hold the group', async () => {
    expect(await recipients([person('alice', ['sre'])])).toEqual([]);
  });

  it('checks eligibility before the cap: more recent members who do not stand (an IdP not trusted) do not crowd the reviewers out', async () => {
    const claimed = Array.from({ length: MAX_GROUP_REVIEWERS + 50 }, (_, i) => person(`claimed${i}`, ['sre'], 'retired-idp'));
    expect(await recipients([person('erin', ['sre']), ...claimed])).toEqual(['erin@example.com']);
  });
}

describe('reviewer recipients (embedded store)', () => suite('embedded'));
describeWithRedis('reviewer recipients (Redis store)', () => suite('redis'));
