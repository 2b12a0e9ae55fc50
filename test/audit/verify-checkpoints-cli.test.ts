import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorSeal } from '../../server/audit/checkpoints.js';
import { AuditSigner } from '../../server/audit/seal.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { loadConfig } from '../../server/config/load.js';
import { AuditLogCorruptError } from '../../server/errors.js';
import { createStores } from '../../server/stores/index.js';
import type { Stores } from '../../server/stores/types.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { auditFileAccess, auditStreamAccess, rechain } from '../support/audit-store-access.js';
import type { AuditStoreAccess } from '../support/audit-store-access.js';
import { runCli } from '../support/cli.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeWithRedis, sharedRedisUrl, uniquePrefix } from '../support/redis.js';

const HOUR = 3_600_000;
const key = auditKeyPair();
const otherKey = auditKeyPair();
const CHECKPOINTS = 'checkpoints: { privateKey: "${file:audit-key.pem}", intervalSeconds: 300 }';

interface Backend {
  store(dir: string): { yaml: string; access: AuditStoreAccess; embedded: boolean };
}

const embedded: Backend = {
  store: (dir) => ({ yaml: '{ dataDir: ./data }', access: auditFileAccess(join(dir, 'data', 'audit.jsonl')), embedded: true }),
};

const redis: Backend = {
  store: () => {
    const prefix = uniquePrefix();
    return { yaml: `{ redis: { url: "${sharedRedisUrl}", keyPrefix: "${prefix}" } }`, access: auditStreamAccess(sharedRedisUrl, prefix), embedded: false };
  },
};

/**
 * A broker's audit log as its configuration makes it (createStores, as `serve` does), on a
 * clock a day behind, so what it sealed is older than any max gap when the CLI verifies it.
 */
function brokerLog(backend: Backend, audit: string) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-checkpoints-'));
  copyFileSync(key.privateKeyFile, join(dir, 'audit-key.pem'));
  const config = join(dir, 'portcullis.yaml');
  const { yaml, access, embedded } = backend.store(dir);
  writeFileSync(config, `server: { publicUrl: "http://127.0.0.1:8080" }\nstore: ${yaml}\naudit: { ${audit} }\n`);
  const clock = new ManualClock(Date.now() - 24 * HOUR);
  const open = async () => {
    const stores = await createStores(loadConfig(config).config, { clock, baseDir: dir });
    await stores.waitReady();
    return stores;
  };
  /** Five events and the checkpoint a clean shutdown writes, as a stopped broker leaves them. */
  const fill = async () => {
    const stores = await open();
    for (let n = 0; n < 5; n++) await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n } });
    await stores.audit.checkpoint({ final: true });
    await stores.close();
    return access.events();
  };
  const verify = (...args: string[]) => runCli(['audit', 'verify', '--config', config, ...args]);
  return { clock, config, access, open, fill, verify, embedded, withKey: ['--public-key', key.publicKeyFile] };
}

function withStores<T>(open: () => Promise<Stores>, work: (stores: Stores) => Promise<T>): Promise<T> {
  return open().then((stores) => work(stores).finally(() => stores.close()));
}

const checkpointsOf = (events: AuditEvent[]) => events.filter((e) => e.type === 'audit.checkpoint');

function verifySuite(name: string, suite: typeof describeWithRedis, backend: Backend): void {
  suite(`portcullis audit verify with signed checkpoints (${name} store)`, () => {
    it('verifies every checkpoint with --public-key and reports how far they reach; without it, counts them', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      const events = await log.fill();
      expect(events.map((e) => e.type)).toEqual(['audit.checkpoint', ...Array(5).fill('auth.login'), 'audit.checkpoint']);
      const verified = await log.verify(...log.withKey);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain(`2 checkpoints verified (max gap 15m); last at ${events.at(-1)!.time}, 0 events after it not yet covered`);
      expect((await log.verify()).stdout).toContain('2 checkpoints found, signatures not checked (pass --public-key)');
    });

    it('catches an event edited with every later hash recomputed, which the chain alone cannot', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      const events = await log.fill();
      const edited = rechain(events.map((e, i) => (i === 3 ? { ...e, data: { n: 100 } } : e)), 3);
      // The attacker also points the checkpoint at the new chain; only its signature stands in the way.
      const last = edited.length - 1;
      edited[last] = { ...edited[last]!, data: { ...edited[last]!.data, prevHash: edited[last - 1]!.hash } };
      await log.access.write(rechain(edited, last));
      expect((await log.verify()).code).toBe(0);
      const result = await log.verify(...log.withKey);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`BROKEN at event ${events[last]!.id} \\(#7\\): the checkpoint has a signature that does not verify`));
    });

    it('catches the same edit when the checkpoints it invalidates are dropped, and when the broker seals the forged chain later', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      const events = await log.fill();
      await log.access.write(rechain(events.map((e, i) => (i === 3 ? { ...e, data: { n: 100 } } : e)), 3).slice(0, -1));
      expect((await log.verify(...log.withKey)).stderr).toMatch(/5 events follow the last checkpoint \(.+\), sealed longer ago than the max gap \(900 s\): checkpoints after it were removed/);

      log.clock.advance(HOUR);
      await withStores(log.open, async (stores) => {
        await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n: 5 } });
        await stores.audit.checkpoint({ final: true });
      });
      const sealedLater = await log.verify(...log.withKey);
      expect(sealedLater.code).toBe(1);
      expect(sealedLater.stderr).toMatch(/5 events lie between the checkpoints at .+ and .+, more than the max gap \(900 s\) apart/);
      expect((await log.verify(...log.withKey, '--max-gap', '2h')).code).toBe(0);
    });

    it('catches a log cut back to an earlier checkpoint, which seals the chain up to it, by the checkpoints a broker writes while idle', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      await log.fill();
      log.clock.advance(HOUR);
      await withStores(log.open, async (stores) => {
        await stores.audit.append({ type: 'auth.login', outcome: 'SUCCESS', actor: 'a@example.com', data: { n: 5 } });
        // A tick: what was appended; the next ticks, idle, seal again; then a clean stop.
        expect(await stores.audit.checkpoint()).toMatchObject({ data: { every: 300 } });
        expect(await stores.audit.checkpoint()).toBeNull();
        log.clock.advance(150_000);
        expect(await stores.audit.checkpoint()).toMatchObject({ data: { every: 300 } });
        await stores.audit.append({ type: 'grant.revoked', outcome: 'SUCCESS', actor: 'a@example.com', data: { n: 6 } });
        expect(await stores.audit.checkpoint({ final: true })).toMatchObject({ data: { every: 300, final: true } });
      });
      expect((await log.verify(...log.withKey)).code).toBe(0);
      const events = await log.access.events();
      const idle = events.findLastIndex((e) => e.type === 'audit.checkpoint' && e.data.final === undefined);
      // Cut back to the idle checkpoint: the revocation and the final checkpoint are gone, the head moved back.
      await log.access.write(events.slice(0, idle + 1));
      expect((await log.verify()).code).toBe(0);
      const cut = await log.verify(...log.withKey);
      expect(cut.code).toBe(1);
      expect(cut.stderr).toMatch(/the log ends at the checkpoint of .+, sealed longer ago than the max gap \(900 s\) by a broker that seals every 300 s even when idle: what followed it was cut/);
      // A checkpoint cannot be made to say it was the last: `final` is sealed.
      const forged = events.slice(0, idle + 1);
      forged[idle] = { ...forged[idle]!, data: { ...forged[idle]!.data, final: true } };
      await log.access.write(rechain(forged, idle));
      expect((await log.verify(...log.withKey)).stderr).toMatch(/the checkpoint has a signature that does not verify/);
    });

    it('names a checkpoint sealed with another key, and refuses a file that is not an Ed25519 public key', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      const [first] = checkpointsOf(await log.fill());
      const other = await log.verify('--public-key', otherKey.publicKeyFile);
      expect(other.code).toBe(1);
      expect(other.stderr).toMatch(new RegExp(`BROKEN at event ${first!.id} \\(#1\\): the checkpoint is sealed by key ${first!.data.keyId}, not a key given to verify \\([0-9a-f]{16}\\)`));
      const privateKey = await log.verify('--public-key', key.privateKeyFile);
      expect(privateKey.code).toBe(1);
      expect(privateKey.stderr).toMatch(/this is a private key: pass its public key/);
      const notAKey = await log.verify('--public-key', log.config);
      expect(notAKey.stderr).toMatch(/expected a PEM Ed25519 public key/);
    });

    it('fails a log with events but no checkpoint when a key is given', async () => {
      const log = brokerLog(backend, 'redactKeys: []');
      await log.fill();
      const result = await log.verify(...log.withKey);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/no checkpoint sealed with the given key: nothing vouches for these 5 events/);
    });

    it('refuses a planted chain-start anchor when retention is off, at load and in verify', async () => {
      const log = brokerLog(backend, CHECKPOINTS);
      const events = await log.fill();
      // Hide the first three events behind an anchor that says the log starts after them.
      await log.access.plantAnchor({ prevHash: events[3]!.prevHash, lastTrimmedId: log.embedded ? 3 : events[2]!.id });
      await log.access.write(events.slice(3));
      await expect(withStores(log.open, (stores) => stores.audit.anchor())).rejects.toBeInstanceOf(AuditLogCorruptError);
      const result = await log.verify();
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/chain-start anchor.*but audit\.retention is not configured/);
    });

    it('with retention on, seals the anchor it writes; an unsigned or wrongly signed one fails verification with the key', async () => {
      const log = brokerLog(backend, `retention: { maxEvents: 3 }, ${CHECKPOINTS}`);
      await log.fill();
      const anchor = await withStores(log.open, async (stores) => {
        expect(await stores.audit.trim({ keep: 4 })).toBe(3);
        return (await stores.audit.anchor())!;
      });
      expect(anchor.seal).toMatchObject({ algorithm: 'Ed25519', keyId: new AuditSigner(key.privateKey).keyId });
      expect((await log.verify(...log.withKey)).code).toBe(0);

      // One more event removed from the start, behind an anchor the attacker could not sign.
      const kept = await log.access.events();
      const forged = { prevHash: kept[1]!.prevHash, lastTrimmedId: log.embedded ? Number(kept[0]!.id) : kept[0]!.id };
      await log.access.plantAnchor(forged);
      await log.access.write(kept.slice(1));
      expect((await log.verify()).code).toBe(0);
      expect((await log.verify(...log.withKey)).stderr).toMatch(/BROKEN at event \(anchor\) \(#0\): the chain-start anchor is not signed/);

      const otherSigner = { signer: new AuditSigner(otherKey.privateKey), intervalMs: 300_000 };
      await log.access.plantAnchor({ ...forged, ...anchorSeal(otherSigner, forged, log.clock.now()) });
      expect((await log.verify(...log.withKey)).stderr).toMatch(/the chain-start anchor is sealed by key [0-9a-f]{16}, not a key given to verify/);

      await log.access.plantAnchor({ ...forged, seal: anchor.seal });
      expect((await log.verify(...log.withKey)).stderr).toMatch(/the chain-start anchor has a signature that does not verify/);
    });
  });
}

verifySuite('embedded', describe, embedded);
verifySuite('Redis', describeWithRedis, redis);
