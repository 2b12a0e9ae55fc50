import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import xpath from 'xpath';
import { afterAll, beforeAll, describe } from 'vitest';
import { selfSignedCertificate } from './certificates.js';
import { isCi } from './ci.js';
import { freePort } from './redis-server.js';

/** Where Debian's `simplesamlphp` package puts the web root (its modules sit beside it). */
export const SIMPLESAMLPHP_WWW = process.env.SIMPLESAMLPHP_WWW || '/usr/share/simplesamlphp/www';

export const SIMPLESAMLPHP_INSTALL_HINT =
  `SimpleSAMLphp was not found at ${SIMPLESAMLPHP_WWW}, or \`php\` (with its XML extension) is not on the PATH. ` +
  'Install the distribution\'s packages to run the SimpleSAMLphp tests: `sudo apt-get install -y php-cli php-xml simplesamlphp` (Debian/Ubuntu), ' +
  'or point SIMPLESAMLPHP_WWW at the www directory of a SimpleSAMLphp 1.19 installation.';

/** php on the PATH with DOM (php-xml: SimpleSAMLphp builds every message with it), and SimpleSAMLphp's web root. */
export function hasSimpleSamlPhp(): boolean {
  if (!existsSync(join(SIMPLESAMLPHP_WWW, 'saml2/idp/SSOService.php'))) return false;
  return spawnSync('php', ['-r', 'exit(extension_loaded("dom") ? 0 : 1);'], { stdio: 'ignore' }).status === 0;
}

const missingOutsideCi = !hasSimpleSamlPhp() && !isCi();
if (missingOutsideCi) console.warn(`\n${SIMPLESAMLPHP_INSTALL_HINT}\nThe SimpleSAMLphp tests are skipped (under CI=true they fail).\n`);

/** describe() for suites that need SimpleSAMLphp: skipped with a hint when it is missing, except under CI=true. */
export const describeWithSimpleSamlPhp = missingOutsideCi ? describe.skip : describe;

/**
 * One SimpleSAMLphp for the whole test file (or describe), started before its first test
 * and stopped after its last. `options` is called in the hook, so it may use what other
 * hooks made (the SP's keys). Call at the top level of a describeWithSimpleSamlPhp.
 */
export function simpleSamlPhpForFile(options: () => StartOptions): { readonly idp: SimpleSamlPhpIdp } {
  let idp: SimpleSamlPhpIdp | undefined;
  let startError: unknown;
  beforeAll(async () => {
    // Kept for each test to throw: every test then fails by name (CI=true without
    // SimpleSAMLphp), rather than being reported as skipped behind one failed hook.
    idp = await startSimpleSamlPhp(options()).catch((error: unknown) => void (startError = error));
  });
  afterAll(() => idp?.stop());
  return {
    get idp() {
      if (startError) throw startError;
      if (!idp) throw new Error('SimpleSAMLphp is not running: call simpleSamlPhpForFile() at the top level of the describe');
      return idp;
    },
  };
}

export interface StartOptions {
  users: readonly SimpleSamlPhpUser[];
  serviceProviders: readonly SimpleSamlPhpServiceProvider[];
}

/** A user of the IdP's `exampleauth:UserPass` source, with the attributes it releases. */
export interface SimpleSamlPhpUser {
  username: string;
  password: string;
  attributes: Record<string, readonly string[]>;
}

/** One `saml20-sp-remote` entry: a service provider this IdP answers. */
export interface SimpleSamlPhpServiceProvider {
  entityId: string;
  acsUrl: string;
  signAssertion: boolean;
  signResponse: boolean;
  /**
   * A PEM certificate: assertions for this SP are encrypted to it. With a certificate,
   * SimpleSAMLphp 1.19 always encrypts with AES-128-CBC and transports the key with
   * RSA-OAEP-MGF1P (saml2's EncryptedAssertion::setAssertion); AES-GCM is only offered
   * with a shared symmetric key (`sharedkey`), which is not public-key encryption.
   */
  encryptTo?: string;
  /** Attribute names as urn:oid (the `core:AttributeMap` name2oid filter, NameFormat uri). */
  oidAttributeNames?: boolean;
}

/** What the IdP publishes in its metadata, as a service provider reads it. */
export interface IdpMetadata {
  entityId: string;
  /** The HTTP-Redirect SingleSignOnService. */
  ssoUrl: string;
  /** The signing certificate, PEM. */
  signingCert: string;
}

export interface SimpleSamlPhpIdp {
  metadataUrl: string;
  metadata: IdpMetadata;
  /** The end of SimpleSAMLphp's own log, for a failure message. */
  logTail(): string;
  stop(): Promise<void>;
}

const ENTITY_ID = 'https://simplesamlphp.idp.test/';
const NAME_ID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
/** `mail`, as the name2oid map names it. */
export const MAIL_OID = 'urn:oid:0.9.2342.19200300.100.1.3';
const ATTRIBUTE_NAME_URI = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';
/** SimpleSAML\Logger::DEBUG (PHP's LOG_DEBUG). */
const LOG_DEBUG = 7;
const START_TIMEOUT_MS = 10_000;
const LOG_TAIL_LINES = 30;

/**
 * A private SimpleSAMLphp IdP on a free loopback port (`php -S`), its configuration, key
 * and certificate generated in a temporary directory; `stop()` ends the process and
 * removes the directory.
 */
export async function startSimpleSamlPhp(options: StartOptions): Promise<SimpleSamlPhpIdp> {
  if (!hasSimpleSamlPhp()) throw new Error(SIMPLESAMLPHP_INSTALL_HINT);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ssp-'));
  let php: ChildProcess | undefined;
  try {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}/simplesaml/`;
    await writeConfig(dir, baseUrl, options);
    php = await startPhp(dir, port);
    const metadataUrl = `${baseUrl}saml2/idp/metadata.php`;
    const res = await fetch(metadataUrl);
    if (res.status !== 200) throw new Error(`SimpleSAMLphp answered ${res.status} for its metadata:\n${logTail(dir)}`);
    const started = php;
    return {
      metadataUrl,
      metadata: readIdpMetadata(await res.text()),
      logTail: () => logTail(dir),
      stop: async () => {
        await stopProcess(started);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (php) await stopProcess(php);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function writeConfig(dir: string, baseUrl: string, options: StartOptions): Promise<void> {
  for (const sub of ['config', 'metadata', 'cert', 'tmp', 'log', 'sessions', 'www']) mkdirSync(join(dir, sub));
  // `php -S` serves its document root: SimpleSAMLphp's own www, mounted at /simplesaml/.
  symlinkSync(SIMPLESAMLPHP_WWW, join(dir, 'www', 'simplesaml'));
  const { cert, privateKey } = await selfSignedCertificate('simplesamlphp-idp');
  writeFileSync(join(dir, 'cert', 'idp.crt'), cert);
  writeFileSync(join(dir, 'cert', 'idp.key'), privateKey, { mode: 0o600 });
  const config = {
    baseurlpath: baseUrl,
    certdir: `${dir}/cert/`,
    loggingdir: `${dir}/log/`,
    datadir: `${dir}/tmp/`,
    tempdir: `${dir}/tmp/`,
    metadatadir: `${dir}/metadata/`,
    attributenamemapdir: attributeMapDir(),
    secretsalt: randomBytes(24).toString('hex'),
    'auth.adminpassword': randomBytes(24).toString('hex'),
    technicalcontact_email: 'nobody@example.invalid',
    timezone: 'UTC',
    'logging.level': LOG_DEBUG,
    'logging.handler': 'file',
    'enable.saml20-idp': true,
    'module.enable': { core: true, saml: true, exampleauth: true },
    'store.type': 'phpsession',
    'session.phpsession.savepath': `${dir}/sessions`,
    'metadata.sources': [{ type: 'flatfile' }],
  };
  const users = Object.fromEntries(options.users.map((u) => [`${u.username}:${u.password}`, u.attributes]));
  const hosted = { [ENTITY_ID]: { host: '__DEFAULT__', privatekey: 'idp.key', certificate: 'idp.crt', auth: 'users' } };
  const remote = Object.fromEntries(options.serviceProviders.map((sp) => [sp.entityId, spRemote(sp)]));
  writeFileSync(join(dir, 'config', 'config.php'), phpFile('config', config));
  writeFileSync(join(dir, 'config', 'authsources.php'), phpFile('config', { users: { 0: 'exampleauth:UserPass', ...users } }));
  writeFileSync(join(dir, 'metadata', 'saml20-idp-hosted.php'), phpFile('metadata', hosted));
  writeFileSync(join(dir, 'metadata', 'saml20-sp-remote.php'), phpFile('metadata', remote));
}

/**
 * SimpleSAMLphp's name-to-OID maps: `attributemap/` beside www upstream, under the config
 * directory in Debian's package (which links `config` to /etc/simplesamlphp).
 */
function attributeMapDir(): string {
  const root = dirname(SIMPLESAMLPHP_WWW);
  const dir = [join(root, 'attributemap'), join(root, 'config', 'attributemap')].find((candidate) => existsSync(candidate));
  if (!dir) throw new Error(`no attributemap directory beside ${SIMPLESAMLPHP_WWW}`);
  return `${dir}/`;
}

/** The sp-remote options (names as in SimpleSAMLphp 1.19's modules/saml/lib/IdP/SAML2.php). */
function spRemote(sp: SimpleSamlPhpServiceProvider): PhpValue {
  return {
    AssertionConsumerService: sp.acsUrl,
    NameIDFormat: NAME_ID_EMAIL,
    // The NameID is read after the authproc filters, so by the name they left.
    'simplesaml.nameidattribute': sp.oidAttributeNames ? MAIL_OID : 'mail',
    'saml20.sign.assertion': sp.signAssertion,
    'saml20.sign.response': sp.signResponse,
    'assertion.encryption': sp.encryptTo !== undefined,
    ...(sp.encryptTo === undefined ? {} : { keys: [{ encryption: true, signing: false, type: 'X509Certificate', X509Certificate: pemBody(sp.encryptTo) }] }),
    ...(sp.oidAttributeNames ? { 'attributes.NameFormat': ATTRIBUTE_NAME_URI, authproc: { 90: { class: 'core:AttributeMap', 0: 'name2oid' } } } : {}),
  };
}

type PhpValue = string | number | boolean | readonly PhpValue[] | { readonly [key: string]: PhpValue };

/** A PHP file setting `$<variable>` to `value` (the form SimpleSAMLphp's config and metadata files take). */
function phpFile(variable: string, value: PhpValue): string {
  return `<?php\n$${variable} = ${phpLiteral(value)};\n`;
}

function phpLiteral(value: PhpValue): string {
  if (typeof value === 'string') return `'${value.replace(/[\\']/g, '\\$&')}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const entries = Array.isArray(value) ? value.map((v: PhpValue) => phpLiteral(v)) : Object.entries(value).map(([k, v]) => `${/^\d+$/.test(k) ? k : phpLiteral(k)} => ${phpLiteral(v)}`);
  return `[${entries.join(', ')}]`;
}

function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
}

/** `php -S` on the port, resolved once it says it listens (it prints that on stderr). */
function startPhp(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn('php', ['-S', `127.0.0.1:${port}`, '-t', join(dir, 'www')], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: join(dir, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`php -S did not start in ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      if (!/Development Server \(http:\/\/[^)]+\) started/.test(output)) return;
      clearTimeout(timer);
      // Keep draining the pipes: a full pipe would block the server.
      child.stdout?.resume();
      child.stderr?.removeAllListeners('data').resume();
      resolve(child);
    };
    child.stderr?.on('data', onOutput);
    child.stdout?.on('data', onOutput);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`php -S exited (${code}) before serving:\n${output}`)));
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function logTail(dir: string): string {
  const path = join(dir, 'log', 'simplesamlphp.log');
  if (!existsSync(path)) return '(SimpleSAMLphp wrote no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

const select = xpath.useNamespaces({ md: 'urn:oasis:names:tc:SAML:2.0:metadata', ds: 'http://www.w3.org/2000/09/xmldsig#' });

/** The entity id, HTTP-Redirect SSO endpoint and signing certificate of an IdP's metadata. */
export function readIdpMetadata(xml: string): IdpMetadata {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const text = (path: string) => {
    const value = select(`string(${path})`, doc as unknown as Node);
    if (typeof value !== 'string' || value.trim() === '') throw new Error(`IdP metadata has no ${path}`);
    return value.trim();
  };
  const certificate = text('/md:EntityDescriptor/md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use="signing"][1]//ds:X509Certificate');
  return {
    entityId: text('/md:EntityDescriptor/@entityID'),
    ssoUrl: text('/md:EntityDescriptor/md:IDPSSODescriptor/md:SingleSignOnService[@Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"]/@Location'),
    signingCert: `-----BEGIN CERTIFICATE-----\n${certificate.replace(/\s/g, '').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`,
  };
}
