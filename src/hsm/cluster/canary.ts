// The deep health check: a real AES-GCM encrypt and decrypt inside one member, under a canary key
// that lives on that member only (never replicated, never a KMS key: its label is internal, so
// listings and reconciliation skip it). A check that only opens a session proves little; this one
// proves login, sessions, the key store and the crypto engine all work.

import { createHash, randomBytes } from 'node:crypto';

import { HsmError, type BackingKeyRef } from '../../ports/hsm.js';
import { INTERNAL_KEY_LABEL_PREFIX } from '../pkcs11/key-templates.js';
import type { Pkcs11Hsm } from '../pkcs11/pkcs11-hsm.js';

const CANARY_LABEL = `${INTERNAL_KEY_LABEL_PREFIX}canary`;

export const CANARY_REF: BackingKeyRef = {
  id: createHash('sha256').update(CANARY_LABEL).digest('hex'),
  label: CANARY_LABEL,
};

const AAD = Buffer.from('keybridge health check');

/** Encrypts 16 random bytes and decrypts them again; throws HsmError when anything differs. */
export async function deepCheck(hsm: Pkcs11Hsm): Promise<void> {
  const probe = randomBytes(16);
  const sealed = await hsm.encrypt(CANARY_REF, probe, AAD);
  const opened = await hsm.decrypt(CANARY_REF, sealed.iv, sealed.ciphertext, sealed.tag, AAD);
  if (!opened.equals(probe)) throw new HsmError('HSM_FAILED', 'the deep check decrypted something else than it encrypted');
}
