import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisOptions } from 'ioredis';
import { issueClientCertificate } from './certificates.js';
import type { KeyPair, TestTls } from './certificates.js';
import type { RedisServerOptions } from './redis-server.js';

export interface RedisUser {
  username: string;
  password: string;
}

/**
 * Who may talk to a server: the default user with a password (`requirepass`: a client gives
 * the password alone), an ACL user, or both side by side. An ACL user alone turns the
 * default user off.
 */
export interface RedisAuth {
  requirepass?: string;
  user?: RedisUser;
}

/**
 * How a test topology is locked, as a production one would be: every server on a TLS port
 * only (no plaintext port at all) with a certificate from the test CA, and passwords on the
 * data nodes and on the Sentinels. Nothing given: plaintext, no passwords.
 */
export interface RedisSecurity {
  tls?: TestTls;
  auth?: RedisAuth;
  sentinelAuth?: RedisAuth;
}

/** What the servers of one topology are started with, and how the harness itself reaches them. */
export interface SecuredTopology {
  /** Appended to a data node's command line (after its `--port`, which `--port 0` then overrides). */
  dataNodeArgs(port: number): string[];
  /** Appended to a Sentinel's configuration file, after its `sentinel monitor <name>` line. */
  sentinelLines(port: number, masterName: string): string[];
  /** `redis-cli` options to reach a data node. */
  cliArgs: string[];
  server: RedisServerOptions;
  /** ioredis options for the harness's own connections to data nodes and to Sentinels. */
  dataClient: RedisOptions;
  sentinelClient: RedisOptions;
}

/** Writes the certificate files into `dir` (the topology's own folder) and derives every server's settings. */
export async function secureTopology(security: RedisSecurity, dir: string): Promise<SecuredTopology> {
  const { tls, auth = {}, sentinelAuth = {} } = security;
  // The Cluster bus insists on a client certificate (whatever tls-auth-clients says), and one made for servers only is refused.
  const files = tls && writeTlsFiles(tls, await issueClientCertificate(tls, 'redis-node'), dir);
  // Replication, the Cluster bus and Sentinel's links speak TLS too: the TLS port is the only port.
  const tlsDirectives = (port: number): string[][] =>
    files
      ? [['port', '0'], ['tls-port', String(port)], ['tls-cert-file', files.cert], ['tls-key-file', files.key], ['tls-client-cert-file', files.clientCert], ['tls-client-key-file', files.clientKey], ['tls-ca-cert-file', files.ca], ['tls-auth-clients', 'no'], ['tls-replication', 'yes']]
      : [];
  // Replicas, Sentinels and the harness sign in as the ACL user when there is one.
  const data = credentials(auth);
  const sentinel = credentials(sentinelAuth);
  return {
    dataNodeArgs: (port) =>
      [
        ...tlsDirectives(port),
        ...(files ? [['tls-cluster', 'yes']] : []),
        ...authDirectives(auth),
        ...(data?.username === undefined ? [] : [['masteruser', data.username]]),
        ...(data ? [['masterauth', data.password]] : []),
      ].flatMap(([name, ...values]) => [`--${name}`, ...values]),
    sentinelLines: (port, masterName) =>
      [
        ...tlsDirectives(port),
        ...(data?.username === undefined ? [] : [['sentinel', 'auth-user', masterName, data.username]]),
        ...(data ? [['sentinel', 'auth-pass', masterName, data.password]] : []),
        ...authDirectives(sentinelAuth),
        // The Sentinels reach each other as clients do.
        ...(sentinel?.username === undefined ? [] : [['sentinel', 'sentinel-user', sentinel.username]]),
        ...(sentinel ? [['sentinel', 'sentinel-pass', sentinel.password]] : []),
      ].map((words) => words.join(' ')),
    cliArgs: [...(files ? ['--tls', '--cacert', files.ca] : []), ...(data?.username === undefined ? [] : ['--user', data.username]), ...(data ? ['--pass', data.password] : [])],
    server: files ? { tlsCa: tls.ca } : {},
    dataClient: { ...(files ? { tls: { ca: tls.ca } } : {}), ...data },
    sentinelClient: { ...(files ? { tls: { ca: tls.ca } } : {}), ...sentinel },
  };
}

function credentials(auth: RedisAuth): { username?: string; password: string } | undefined {
  return auth.user ?? (auth.requirepass === undefined ? undefined : { password: auth.requirepass });
}

/** `requirepass`, the ACL user with every right, and the default user off when only the ACL user may sign in. */
function authDirectives(auth: RedisAuth): string[][] {
  return [
    ...(auth.requirepass === undefined ? [] : [['requirepass', auth.requirepass]]),
    ...(auth.user === undefined ? [] : [...(auth.requirepass === undefined ? [['user', 'default', 'off']] : []), ['user', auth.user.username, 'on', `>${auth.user.password}`, '~*', '&*', '+@all']]),
  ];
}

function writeTlsFiles(tls: TestTls, client: KeyPair, dir: string): Record<'cert' | 'key' | 'clientCert' | 'clientKey' | 'ca', string> {
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key'), ca: join(dir, 'ca.crt') };
  writeFileSync(files.cert, tls.server.cert);
  writeFileSync(files.key, tls.server.privateKey, { mode: 0o600 });
  writeFileSync(files.clientCert, client.cert);
  writeFileSync(files.clientKey, client.privateKey, { mode: 0o600 });
  writeFileSync(files.ca, tls.ca);
  return files;
}
