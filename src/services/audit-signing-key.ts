// The key pair that signs audit digests (src/audit/digest.ts): ECC_NIST_P256, SIGN_VERIFY, in the
// default key store's HSM (RSA_2048 with RSASSA-PKCS1-v1_5 where the HSM has no elliptic curves,
// as openCryptoki's soft token; `openssl dgst -sha256 -verify` checks either the same way), its private key sensitive and non-extractable. Like the secret-sealing
// key (secret-sealer.ts) it is an internal object with a fixed id and a label outside "arn:", so
// reconciliation never takes it for a KMS key; it is created on first start.
//
// The public key is written to <dataDir>/audit-signing-key.pem (SPKI, mode 0644) whenever the file
// is missing or differs, so `keybridge audit verify` and OpenSSL can check digests without the HSM.
// WARNING: operators should copy that file somewhere the host's administrators cannot write: a
// verifier that trusts a public key found next to the trail trusts whoever could replace both.

import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AsymmetricKeySpec, SigningAlgorithm } from '../domain/key-spec.js';
import { useOrMake, type BackingKeyRef, type Hsm } from '../ports/hsm.js';

const SIGNING_KEY: BackingKeyRef = {
  id: createHash('sha256').update('keybridge internal audit-signing key v1').digest('hex'),
  label: 'keybridge:internal:audit-signing',
};

interface SigningScheme {
  readonly spec: AsymmetricKeySpec;
  readonly algorithm: SigningAlgorithm;
}

const ECDSA: SigningScheme = { spec: 'ECC_NIST_P256', algorithm: 'ECDSA_SHA_256' };
const RSA_PKCS1: SigningScheme = { spec: 'RSA_2048', algorithm: 'RSASSA_PKCS1_V1_5_SHA_256' };

export class AuditSigningKey {
  readonly #hsm: Hsm;
  readonly #scheme: SigningScheme;
  readonly #publicKey: KeyObject;
  /** SHA-256 (hex) of the DER SubjectPublicKeyInfo. */
  readonly keyFingerprint: string;
  readonly publicKeyPem: string;

  private constructor(hsm: Hsm, scheme: SigningScheme, spki: Buffer) {
    this.#hsm = hsm;
    this.#scheme = scheme;
    this.#publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    this.keyFingerprint = createHash('sha256').update(spki).digest('hex');
    this.publicKeyPem = String(this.#publicKey.export({ type: 'spki', format: 'pem' }));
  }

  /** Finds (or generates) the key pair and writes its public key to `pemPath` if that differs. */
  static async open(hsm: Hsm, pemPath: string): Promise<AuditSigningKey> {
    const scheme = (await hsm.missingMechanism(ECDSA.spec, 'SIGN_VERIFY')) === undefined ? ECDSA : RSA_PKCS1;
    const spki = await useOrMake(
      () => hsm.getPublicKey(SIGNING_KEY, scheme.spec),
      () => hsm.generateKeyPair(SIGNING_KEY, scheme.spec, 'SIGN_VERIFY'),
    );
    const key = new AuditSigningKey(hsm, scheme, spki);
    writePemIfDifferent(pemPath, key.publicKeyPem);
    return key;
  }

  /** The signature (DER ECDSA P-256, or RSASSA-PKCS1-v1_5) over SHA-256 of `message`, checked with the public key before it is returned. */
  async sign(message: Buffer): Promise<Buffer> {
    const signature = await this.#hsm.sign(SIGNING_KEY, this.#scheme.algorithm, createHash('sha256').update(message).digest());
    // A digest whose signature does not verify would make the trail look tampered with later.
    if (!verifySignature('sha256', message, { key: this.#publicKey, dsaEncoding: 'der' }, signature)) {
      throw new Error('the HSM returned an audit digest signature that does not verify with the audit signing public key');
    }
    return signature;
  }
}

function writePemIfDifferent(path: string, pem: string): void {
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (current === pem) return;
  // Write aside and rename, so a reader never sees half a key.
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, pem, { mode: 0o644 });
  chmodSync(temporary, 0o644); // the umask may have narrowed it; the public key is public
  renameSync(temporary, path);
}
