// Secrets keybridge must keep but never store in plaintext (custom key stores' crypto-user PINs)
// are sealed with AES-256-GCM under an internal key of the default key store's HSM.
//
// The internal key is an ordinary non-extractable backing key object whose label does not start
// with "arn:", so reconciliation never mistakes it for a KMS key. It is created on first use.

import { createHash } from 'node:crypto';
import { HsmError, type BackingKeyRef, type Hsm } from '../ports/hsm.js';

const INTERNAL_KEY: BackingKeyRef = {
  id: createHash('sha256').update('keybridge internal secret-sealing key v1').digest('hex'),
  label: 'keybridge:internal:secrets',
};
const FORMAT = 1;

export class SecretSealer {
  constructor(private readonly hsm: Hsm) {}

  /** Base64 of version ‖ iv ‖ ciphertext ‖ tag; `context` is bound as AAD and must match on unseal. */
  async seal(secret: string, context: string): Promise<string> {
    const aad = this.aad(context);
    const plaintext = Buffer.from(secret, 'utf8');
    let sealed;
    try {
      sealed = await this.hsm.encrypt(INTERNAL_KEY, plaintext, aad);
    } catch (err) {
      if (!(err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND')) throw err;
      // A concurrent first seal may create it at the same moment; the encrypt below decides.
      await this.hsm.generateSymmetricKey(INTERNAL_KEY).catch(() => undefined);
      sealed = await this.hsm.encrypt(INTERNAL_KEY, plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
    return Buffer.concat([Buffer.from([FORMAT]), sealed.iv, sealed.ciphertext, sealed.tag]).toString('base64');
  }

  async unseal(sealed: string, context: string): Promise<string> {
    const bytes = Buffer.from(sealed, 'base64');
    if (bytes[0] !== FORMAT || bytes.length < 1 + 12 + 16) throw new Error('sealed secret has an unknown format');
    const iv = bytes.subarray(1, 13);
    const ciphertext = bytes.subarray(13, bytes.length - 16);
    const tag = bytes.subarray(bytes.length - 16);
    const plaintext = await this.hsm.decrypt(INTERNAL_KEY, iv, ciphertext, tag, this.aad(context));
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }

  private aad(context: string): Buffer {
    return Buffer.from(`keybridge sealed secret v${FORMAT}\0${context}`, 'utf8');
  }
}
