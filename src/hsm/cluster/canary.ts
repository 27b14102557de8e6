// The deep health check: a real operation inside one member under a canary key that lives on that
// member only (never replicated, never a KMS key: its label is internal, so listings and
// reconciliation skip it). A check that only opens a session proves little; this one proves login,
// sessions, the key store and the crypto engine all work.
//
// Which operation follows from what the member's token can do (its mechanism list): AES-GCM encrypt
// and decrypt where it has CKM_AES_GCM, as every symmetric KMS key uses; otherwise HMAC-SHA-256
// generate and verify, so that a token without AES-GCM (openCryptoki's soft token, a YubiHSM 2) can
// still serve the asymmetric and HMAC keys it does support.

import { createHash, randomBytes } from 'node:crypto';

import { HsmError, type BackingKeyRef } from '../../ports/hsm.js';
import { INTERNAL_KEY_LABEL_PREFIX } from '../pkcs11/key-templates.js';
import type { Pkcs11Hsm } from '../pkcs11/pkcs11-hsm.js';

function canaryRef(label: string): BackingKeyRef {
  return { id: createHash('sha256').update(label).digest('hex'), label };
}

/** The AES-256 canary (tokens with AES-GCM). */
export const CANARY_REF: BackingKeyRef = canaryRef(`${INTERNAL_KEY_LABEL_PREFIX}canary`);
/** The HMAC canary (tokens without AES-GCM). */
export const HMAC_CANARY_REF: BackingKeyRef = canaryRef(`${INTERNAL_KEY_LABEL_PREFIX}canary-hmac`);

const AAD = Buffer.from('keybridge health check');

export type CanaryKind = 'aes-gcm' | 'hmac';

/** The canary the member's token can run; HSM_UNSUPPORTED when it can run neither. */
export async function canaryKindOf(hsm: Pkcs11Hsm): Promise<CanaryKind> {
  const noGcm = await hsm.missingMechanism('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT');
  if (noGcm === undefined) return 'aes-gcm';
  const noHmac = await hsm.missingMechanism('HMAC_256', 'GENERATE_VERIFY_MAC');
  if (noHmac === undefined) return 'hmac';
  throw new HsmError('HSM_UNSUPPORTED', `the token can run no health check: ${noGcm}, and ${noHmac}`);
}

/** Makes sure the member's canary key exists (generates it on first use). */
export async function ensureCanary(hsm: Pkcs11Hsm, isKeyNotFound: (err: unknown) => boolean): Promise<void> {
  const kind = await canaryKindOf(hsm);
  try {
    if (kind === 'aes-gcm') await hsm.encrypt(CANARY_REF, Buffer.alloc(1), Buffer.alloc(0));
    else await hsm.mac(HMAC_CANARY_REF, 'HMAC_SHA_256', Buffer.alloc(1));
  } catch (err) {
    if (!isKeyNotFound(err)) throw err;
    if (kind === 'aes-gcm') await hsm.generateSymmetricKey(CANARY_REF);
    else await hsm.generateMacKey(HMAC_CANARY_REF, 'HMAC_256');
  }
}

/**
 * Encrypts 16 random bytes and decrypts them again (or MACs them and verifies the MAC); throws
 * HsmError when anything differs.
 */
export async function deepCheck(hsm: Pkcs11Hsm): Promise<void> {
  const probe = randomBytes(16);
  if ((await canaryKindOf(hsm)) === 'hmac') {
    const tag = await hsm.mac(HMAC_CANARY_REF, 'HMAC_SHA_256', probe);
    if (!(await hsm.verifyMac(HMAC_CANARY_REF, 'HMAC_SHA_256', probe, tag))) throw new HsmError('HSM_FAILED', 'the deep check could not verify its own MAC');
    return;
  }
  const sealed = await hsm.encrypt(CANARY_REF, probe, AAD);
  const opened = await hsm.decrypt(CANARY_REF, sealed.iv, sealed.ciphertext, sealed.tag, AAD);
  if (!opened.equals(probe)) throw new HsmError('HSM_FAILED', 'the deep check decrypted something else than it encrypted');
}
