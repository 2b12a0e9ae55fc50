import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections, freePort } from './redis-server.js';
import type { TestTls } from './certificates.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';

/** What one received message held: the RFC 5424 fields a test checks, and the JSON record. */
export interface ReceivedSyslog {
  /** When rsyslog received it (epoch ms, its own clock: this machine's). */
  receivedAt: number;
  pri: number;
  msgid: string;
  structuredData: string;
  record: Record<string, unknown>;
}

export interface RsyslogHandle {
  readonly port: number;
  /** Every message written to its output file so far, in arrival order. */
  received(): ReceivedSyslog[];
  /** How many messages were written so far (cheaper than `received` on a large file). */
  count(): number;
  /** Sudden death (SIGKILL): the port refuses until `start` again. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function hasRsyslog(): boolean {
  return existsSync(RSYSLOGD) && spawnSync(RSYSLOGD, ['-v'], { encoding: 'utf8' }).status === 0;
}

/**
 * A private rsyslogd (Debian's, with its GnuTLS driver) receiving syslog over TLS (RFC 5425)
 * on a free loopback port, with its own config, pid file and work directory, writing each
 * message's arrival time, PRI, MSGID, structured data and MSG as one tab-separated line to a file.
 * `clientAuth`: it requires a client certificate issued by the test CA (mutual TLS).
 */
export async function startRsyslog(tls: TestTls, options: { clientAuth?: boolean } = {}): Promise<RsyslogHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rsyslog-'));
  mkdirSync(join(dir, 'work'));
  writeFileSync(join(dir, 'ca.pem'), tls.ca);
  writeFileSync(join(dir, 'server.pem'), tls.server.cert);
  writeFileSync(join(dir, 'server-key.pem'), tls.server.privateKey, { mode: 0o600 });
  const port = await freePort();
  const output = join(dir, 'received.log');
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}/work" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="${dir}/ca.pem" defaultNetstreamDriverCertFile="${dir}/server.pem" defaultNetstreamDriverKeyFile="${dir}/server-key.pem")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="${options.clientAuth ? 'x509/certvalid' : 'anon'}")
input(type="imtcp" port="${port}" address="127.0.0.1")
template(name="fields" type="string" string="%timegenerated:::date-rfc3339%\\t%pri%\\t%msgid%\\t%structured-data%\\t%msg%\\n")
action(type="omfile" file="${output}" template="fields")
`,
  );
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await acceptsConnections(port))) {
      if (child.exitCode !== null) throw new Error(`rsyslogd exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`rsyslogd did not listen on port ${port} within 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const exit = async (signal: NodeJS.Signals) => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };
  await start();
  return {
    port,
    received: () => (existsSync(output) ? readFileSync(output, 'utf8').split('\n').filter((line) => line !== '').map(parseLine) : []),
    count: () => (existsSync(output) ? readFileSync(output).reduce((n, byte) => (byte === 0x0a ? n + 1 : n), 0) : 0),
    kill: () => exit('SIGKILL'),
    start,
    stop: () => exit('SIGTERM'),
  };
}

function parseLine(line: string): ReceivedSyslog {
  const [receivedAt = '', pri = '', msgid = '', structuredData = '', ...msg] = line.split('\t');
  return { receivedAt: Date.parse(receivedAt), pri: Number(pri), msgid, structuredData, record: JSON.parse(msg.join('\t').trim()) as Record<string, unknown> };
}

