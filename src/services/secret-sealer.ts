// Secrets keybridge must keep but never store in plaintext (custom key stores' crypto-user PINs)
// are sealed under an internal key of the default key store's HSM: AES-256-GCM, or where that HSM
// has no AES-GCM, the AES-256-CBC + HMAC-SHA-256 suite (docs/ciphertext-format.md), both inside
// the HSM.
//
// The internal keys are ordinary non-extractable backing key objects whose labels do not start
// with "arn:", so reconciliation never mistakes them for KMS keys: one per suite (a material is
// only ever used one way), created on first use. The sealed form names its suite in its first byte.

import { createHash } from 'node:crypto';

import type { SymmetricSuite } from '../domain/symmetric-suite.js';
import { HsmError, useOrMake, type BackingKeyRef, type Hsm } from '../ports/hsm.js';

function internalKey(label: string): BackingKeyRef {
  return { id: createHash('sha256').update(`keybridge internal ${label} key v1`).digest('hex'), label: `keybridge:internal:${label}` };
}

interface SealFormat {
  readonly version: number;
  readonly suite: SymmetricSuite;
  readonly key: BackingKeyRef;
  readonly ivBytes: number;
  readonly tagBytes: number;
}

const FORMATS: readonly SealFormat[] = [
  // The GCM key's id predates the second suite: it stays what it was.
  { version: 1, suite: 'AES_256_GCM', key: { id: createHash('sha256').update('keybridge internal secret-sealing key v1').digest('hex'), label: 'keybridge:internal:secrets' }, ivBytes: 12, tagBytes: 16 },
  { version: 2, suite: 'AES_256_CBC_HMAC_SHA_256', key: internalKey('secrets-cbc-hmac'), ivBytes: 16, tagBytes: 32 },
];

export class SecretSealer {
  private format: Promise<SealFormat> | undefined;

  constructor(private readonly hsm: Hsm) {}

  /** Base64 of version ‖ iv ‖ ciphertext ‖ tag; `context` is bound as AAD and must match on unseal. */
  async seal(secret: string, context: string): Promise<string> {
    const format = await this.sealingFormat();
    const aad = this.aad(format, context);
    const plaintext = Buffer.from(secret, 'utf8');
    let sealed;
    try {
      sealed = await useOrMake(
        () => this.hsm.encrypt(format.key, plaintext, aad, format.suite),
        () => this.hsm.generateSymmetricKey(format.key, format.suite),
      );
    } finally {
      plaintext.fill(0);
    }
    return Buffer.concat([Buffer.from([format.version]), sealed.iv, sealed.ciphertext, sealed.tag]).toString('base64');
  }

  /**
   * Creates the sealing key now if the HSM has none yet (a fresh token), rather than at the first
   * seal: compose runs this on one node at a time, so nodes sharing a token make one key, not two.
   */
  async prepare(): Promise<void> {
    try {
      await this.sealingFormat();
    } catch (err) {
      // An HSM that cannot seal at all says so at the first seal, where it matters; it need not stop the service.
      if (err instanceof HsmError && err.code === 'HSM_UNSUPPORTED') return;
      throw err;
    }
    await this.seal('', 'keybridge:prepare');
  }

  async unseal(sealed: string, context: string): Promise<string> {
    const bytes = Buffer.from(sealed, 'base64');
    const format = FORMATS.find((f) => f.version === bytes[0]);
    if (format === undefined || bytes.length < 1 + format.ivBytes + format.tagBytes) throw new Error('sealed secret has an unknown format');
    const iv = bytes.subarray(1, 1 + format.ivBytes);
    const ciphertext = bytes.subarray(1 + format.ivBytes, bytes.length - format.tagBytes);
    const tag = bytes.subarray(bytes.length - format.tagBytes);
    const plaintext = await this.hsm.decrypt(format.key, iv, ciphertext, tag, this.aad(format, context), format.suite);
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }

  /** The suite the default key store's HSM gives new material, asked once. */
  private sealingFormat(): Promise<SealFormat> {
    this.format ??= this.hsm.symmetricSuite().then(
      (choice) => {
        if ('refusal' in choice) throw new HsmError('HSM_UNSUPPORTED', `the default key store cannot seal secrets: ${choice.refusal}`);
        return FORMATS.find((f) => f.suite === choice.suite)!;
      },
      (err: unknown) => {
        this.format = undefined;
        throw err;
      },
    );
    return this.format;
  }

  private aad(format: SealFormat, context: string): Buffer {
    return Buffer.from(`keybridge sealed secret v${format.version}\0${context}`, 'utf8');
  }
}
