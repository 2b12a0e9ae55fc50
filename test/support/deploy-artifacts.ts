import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../server/config/load.js';
import type { LoadedConfig } from '../../server/config/load.js';
import { selfSignedCertificate } from './certificates.js';

/** Where the deployment artifacts mount secret files, and where their configs read them with ${file:...}. */
export const SECRETS_DIR = '/run/secrets/';

/**
 * Every document of a YAML file, read as YAML 1.1 the way Kubernetes (go-yaml) and Compose
 * read them: `0440` is octal there, and `<<:` merges a mapping.
 */
export function readYamlDocuments(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1', merge: true }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

export function readYaml(file: string): unknown {
  const [document, ...rest] = readYamlDocuments(file);
  if (rest.length > 0) throw new Error(`${file}: expected one YAML document`);
  return document;
}

/** The secret file names a broker configuration reads (`${file:/run/secrets/NAME}` in its values), in order of appearance. */
export function secretFilesOf(configText: string): string[] {
  const values: string[] = [];
  const walk = (node: unknown): void => {
    if (typeof node === 'string') values.push(node);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(parse(configText));
  const names = values.flatMap((value) => [...value.matchAll(/\$\{file:([^}]*)\}/g)]).map((match) => {
    const path = match[1] ?? '';
    if (!path.startsWith(SECRETS_DIR)) throw new Error(`\${file:${path}} is not under ${SECRETS_DIR}`);
    return path.slice(SECRETS_DIR.length);
  });
  return [...new Set(names)];
}

/**
 * Loads a shipped broker configuration with the broker's own loader, every secret file it
 * names made fresh (real certificates and keys, since the schema checks them) in a scratch
 * folder standing for /run/secrets. A secret this does not know how to make is an error.
 */
export async function loadWithSecretFiles(configText: string): Promise<LoadedConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-deploy-'));
  const idp = await selfSignedCertificate('corp-idp');
  const sp = await selfSignedCertificate('portcullis-sp');
  const audit = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const made: Record<string, string> = {
    'redis-password': randomBytes(32).toString('hex'),
    'idp-corp-cert': idp.cert,
    'saml-sp-key': sp.privateKey,
    'saml-sp-cert': sp.cert,
    'upstream-docs-token': randomBytes(24).toString('base64url'),
    'audit-checkpoint-key': audit.privateKey,
  };
  for (const name of secretFilesOf(configText)) {
    const content = made[name];
    if (content === undefined) throw new Error(`no fixture for the secret file ${SECRETS_DIR}${name}: add one to test/support/deploy-artifacts.ts`);
    writeFileSync(join(dir, name), `${content}\n`, { mode: 0o600 });
  }
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, configText.replaceAll(`\${file:${SECRETS_DIR}`, `\${file:${dir}/`));
  return loadConfig(file, {});
}
