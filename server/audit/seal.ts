import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { z } from 'zod';

/**
 * Ed25519 seals over statements about the audit chain. Whoever can write the store can
 * recompute every hash after an edit; only the holder of the private key can seal, and
 * the public key alone checks a seal, so a verifier never needs the secret.
 */

const SEAL_ALGORITHM = 'Ed25519';

/** Who sealed a statement, when, and the signature (base64) over it. */
export interface Seal {
  keyId: string;
  algorithm: typeof SEAL_ALGORITHM;
  time: string;
  signature: string;
}

export const sealSchema = z.strictObject({
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  algorithm: z.literal(SEAL_ALGORITHM),
  time: z.string().min(1),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/),
});

/** What a seal is for: each is its own signing domain, so one kind can never pass for another. */
type SealPurpose = 'checkpoint' | 'anchor';

type Statement = Record<string, string>;

function message(purpose: SealPurpose, statement: Statement, keyId: string, time: string): Buffer {
  return Buffer.from(`portcullis-audit-${purpose}-v1\n${canonicalJson({ ...statement, keyId, algorithm: SEAL_ALGORITHM, time })}`);
}

/** The key's id: the first 64 bits of SHA-256 over its SubjectPublicKeyInfo, in hex. */
function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Reads a PEM Ed25519 key of the given kind, or throws an Error saying what is wrong (never echoing the PEM). */
export function ed25519Key(pem: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new Error(`expected a PEM Ed25519 ${kind} key (make one with: openssl genpkey -algorithm ed25519${kind === 'public' ? ' | openssl pkey -pubout' : ''})`);
  }
  // createPublicKey also reads a private key (deriving its public half): a verifier must never need it.
  if (kind === 'public' && /PRIVATE KEY/.test(pem)) throw new Error('this is a private key: pass its public key (openssl pkey -in key.pem -pubout)');
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 ${kind} key, got ${key.asymmetricKeyType ?? 'a symmetric key'}`);
  return key;
}

/** The public half of a PEM Ed25519 private key, as PEM: what verifies the seals it makes. */
export function publicKeyPemOf(privateKeyPem: string): string {
  return createPublicKey(ed25519Key(privateKeyPem, 'private')).export({ type: 'spki', format: 'pem' }).toString();
}

export class AuditSigner {
  readonly keyId: string;
  private readonly key: KeyObject;

  constructor(privateKeyPem: string) {
    this.key = ed25519Key(privateKeyPem, 'private');
    this.keyId = keyIdOf(this.key);
  }

  seal(purpose: SealPurpose, statement: Statement, time: string): Seal {
    const signature = sign(null, message(purpose, statement, this.keyId, time), this.key).toString('base64');
    return { keyId: this.keyId, algorithm: SEAL_ALGORITHM, time, signature };
  }
}

/** The public keys a verifier trusts (several across a key rotation). */
export class AuditKeyRing {
  private readonly keys: Map<string, KeyObject>;

  constructor(publicKeyPems: readonly string[]) {
    this.keys = new Map(publicKeyPems.map((pem) => ed25519Key(pem, 'public')).map((key) => [keyIdOf(key), key]));
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** Why `seal` does not vouch for the statement (a predicate: "is sealed by another key"), or null when it does. */
  problem(purpose: SealPurpose, statement: Statement, seal: unknown): string | null {
    const parsed = sealSchema.safeParse(seal);
    if (!parsed.success) return 'has a malformed seal';
    const { keyId, time, signature } = parsed.data;
    const key = this.keys.get(keyId);
    if (!key) return `is sealed by key ${keyId}, not a key given to verify (${this.keyIds.join(', ')})`;
    if (!verify(null, message(purpose, statement, keyId, time), key, Buffer.from(signature, 'base64'))) return 'has a signature that does not verify: what it seals was changed';
    return null;
  }
}
