import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface AuditKeyFiles {
  privateKey: string;
  publicKey: string;
  /** Where they were written, as an operator keeps them. */
  privateKeyFile: string;
  publicKeyFile: string;
}

/** A fresh Ed25519 key pair for sealing audit checkpoints, in PEM and in files. */
export function auditKeyPair(): AuditKeyFiles {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-audit-key-'));
  const privateKeyFile = join(dir, 'audit-key.pem');
  const publicKeyFile = join(dir, 'audit-key.pub.pem');
  writeFileSync(privateKeyFile, privateKey, { mode: 0o600 });
  writeFileSync(publicKeyFile, publicKey);
  return { privateKey, publicKey, privateKeyFile, publicKeyFile };
}
