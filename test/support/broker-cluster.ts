import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHaproxy } from './haproxy.js';
import type { HaproxyHandle } from './haproxy.js';
import { freePort } from './redis-server.js';
import { startReferenceHttpServer } from './reference-http-server.js';
import { createTestIdp, TEST_PUBLIC_URL } from './test-idp.js';
import type { TestIdp } from './test-idp.js';

/**
 * Broker instances as a deployment runs them: separate `portcullis serve` processes (the
 * built CLI, bin/portcullis.js) on one Redis key prefix, behind the shipped HAProxy
 * configuration on loopback, in front of the MCP reference server over Streamable HTTP.
 * Any instance can be killed (SIGKILL) and started again on its port.
 */
export interface BrokerCluster {
  /** The load balancer: where clients go. */
  url: string;
  idp: TestIdp;
  /** The configuration file every instance runs (`portcullis audit verify --config` reads its store). */
  configFile: string;
  instances: BrokerInstance[];
  stop(): Promise<void>;
}

export interface BrokerInstance {
  readonly name: string;
  readonly url: string;
  /** Sudden death: no drain, no shutdown checkpoint, sockets dropped by the kernel. */
  kill(): Promise<void>;
  /** Starts it again on its port; resolves once it serves /readyz. */
  restart(): Promise<void>;
}

/** The engineers' and reviewers' rules (`echo` alone is auto-approved, anything more waits for a lead), and auditors who read the log. */
const POLICY = {
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [
        { server: 'everything', tools: ['echo'], maxDurationSeconds: 3600, autoApprove: true },
        { server: 'everything', tools: ['*'], maxDurationSeconds: 3600 },
      ],
    },
    { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'everything', tools: ['*'] }] },
    { name: 'auditor', members: { groups: ['security'] }, audit: true },
  ],
};

export async function startBrokerCluster(options: { redisUrl: string; keyPrefix: string; instances?: number }): Promise<BrokerCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
  const idp = await createTestIdp('corp');
  const upstream = await startReferenceHttpServer();
  const configFile = join(dir, 'portcullis.json');
  const ports = await Promise.all(Array.from({ length: options.instances ?? 3 }, () => freePort()));
  const config = (port: number) => ({
    server: { host: '127.0.0.1', port, publicUrl: TEST_PUBLIC_URL },
    store: { redis: { url: options.redisUrl, keyPrefix: options.keyPrefix }, dataDir: join(dir, 'data') },
    logging: { level: 'warn' },
    // Every client comes from 127.0.0.1 (through the proxy): the per-address limits would cap the run.
    rateLimits: { unauthenticated: { points: 1_000_000, durationSeconds: 60 }, graphql: { points: 1_000_000, durationSeconds: 60 } },
    broker: { maxSessionsPerUser: 10_000 },
    identityProviders: [idp.config],
    ...POLICY,
    servers: [{ name: 'everything', transport: 'streamable-http', url: upstream.url }],
  });
  // One file per instance (ports differ); the first is the one tools such as `audit verify` read.
  const files = ports.map((port, i) => {
    const file = i === 0 ? configFile : join(dir, `portcullis-${i + 1}.json`);
    // JSON is YAML: the file `serve` reads.
    writeFileSync(file, JSON.stringify(config(port)));
    return file;
  });
  const instances = files.map((file, i) => new InstanceProcess(`broker-${i + 1}`, ports[i]!, file));
  let haproxy: HaproxyHandle | undefined;
  const stop = async () => {
    await haproxy?.stop();
    await Promise.all(instances.map((instance) => instance.stop()));
    upstream.child.kill('SIGKILL');
  };
  try {
    await Promise.all(instances.map((instance) => instance.restart()));
    const port = await freePort();
    haproxy = await startHaproxy(writeHaproxyConfig(dir, port, instances), port);
    return { url: `http://127.0.0.1:${port}`, idp, configFile, instances, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The shipped infra/compose/haproxy.cfg with only what a loopback run must change: plain
 * HTTP on a free port (TLS ending at the proxy is checked in test/deploy/haproxy.test.ts)
 * and these instances in place of the compose services. Stickiness, health checks on
 * /readyz, timeouts and WebSocket passing stay as shipped.
 */
function writeHaproxyConfig(dir: string, port: number, instances: readonly InstanceProcess[]): string {
  let text = swap(readFileSync('infra/compose/haproxy.cfg', 'utf8'), 'bind :8443 ssl crt /run/secrets/tls.pem alpn h2,http/1.1', `bind 127.0.0.1:${port}`);
  text = swap(text, 'server broker-1 broker-1:8080\n  server broker-2 broker-2:8080', instances.map((i) => `server ${i.name} 127.0.0.1:${i.port}`).join('\n  '));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text);
  return file;
}

function swap(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`infra/compose/haproxy.cfg no longer holds "${from}" once`);
  return text.replace(from, to);
}

class InstanceProcess implements BrokerInstance {
  private child: ChildProcess | undefined;
  readonly url: string;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly configFile: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  kill(): Promise<void> {
    return this.exit('SIGKILL');
  }

  stop(): Promise<void> {
    return this.exit('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.kill();
    const child = spawn(process.execPath, ['bin/portcullis.js', 'serve', '--config', this.configFile], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    // Ready means what the proxy's health check means: the store answers.
    const deadline = Date.now() + 60_000;
    while (!(await this.ready())) {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.name} was not ready within 60 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async ready(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/readyz`)).status === 200;
    } catch {
      return false;
    }
  }

  private async exit(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}
