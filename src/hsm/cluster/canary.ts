// The deep health check: a real operation inside one member under a canary key that lives on that
// member only (never replicated, never a KMS key: its label is internal, so listings and
// reconciliation skip it). A check that only opens a session proves little; this one proves login,
// sessions, the key store and the crypto engine all work.
//
// Which operation follows from what the member's token can do (its mechanism list): AES-GCM encrypt
// and decrypt where it has CKM_AES_GCM, as every symmetric KMS key uses; otherwise HMAC-SHA-256
// generate and verify; otherwise an ECDSA P-256 (or RSA-PSS) signature and its verification — so a
// token without AES-GCM (openCryptoki's soft token, a YubiHSM 2) or without secret-key generation
// at all (tpm2-pkcs11) can still serve the keys it does support.

import { createHash, randomBytes } from 'node:crypto';

import type { AsymmetricKeySpec, SigningAlgorithm } from '../../domain/key-spec.js';
import { HsmError, useOrMake, type BackingKeyRef } from '../../ports/hsm.js';
import { INTERNAL_KEY_LABEL_PREFIX } from '../pkcs11/key-templates.js';
import type { Pkcs11Hsm } from '../pkcs11/pkcs11-hsm.js';

function canaryRef(label: string): BackingKeyRef {
  return { id: createHash('sha256').update(label).digest('hex'), label };
}

/** The AES-256 canary (tokens with AES-GCM). */
export const CANARY_REF: BackingKeyRef = canaryRef(`${INTERNAL_KEY_LABEL_PREFIX}canary`);
/** The HMAC canary (tokens without AES-GCM). */
export const HMAC_CANARY_REF: BackingKeyRef = canaryRef(`${INTERNAL_KEY_LABEL_PREFIX}canary-hmac`);
/** The signing canary (tokens that can generate neither). */
export const SIGNING_CANARY_REF: BackingKeyRef = canaryRef(`${INTERNAL_KEY_LABEL_PREFIX}canary-signing`);

const SIGNING_CANARIES: ReadonlyArray<{ spec: AsymmetricKeySpec; algorithm: SigningAlgorithm }> = [
  { spec: 'ECC_NIST_P256', algorithm: 'ECDSA_SHA_256' },
  { spec: 'RSA_2048', algorithm: 'RSASSA_PSS_SHA_256' },
];

const AAD = Buffer.from('keybridge health check');

type CanaryKind = { readonly kind: 'aes-gcm' } | { readonly kind: 'hmac' } | { readonly kind: 'signing'; readonly spec: AsymmetricKeySpec; readonly algorithm: SigningAlgorithm };

// Per open connection: a member that reopens gets a new Pkcs11Hsm, and is asked again.
const KINDS = new WeakMap<Pkcs11Hsm, CanaryKind>();

/** The canary the member's token can run (asked once per connection); HSM_UNSUPPORTED when it can run none. */
async function canaryKindOf(hsm: Pkcs11Hsm): Promise<CanaryKind> {
  let kind = KINDS.get(hsm);
  if (kind === undefined) {
    kind = await chooseCanary(hsm);
    KINDS.set(hsm, kind);
  }
  return kind;
}

async function chooseCanary(hsm: Pkcs11Hsm): Promise<CanaryKind> {
  const noGcm = (await hsm.symmetricSuites()).AES_256_GCM;
  if (noGcm === undefined) return { kind: 'aes-gcm' };
  const noHmac = await hsm.missingMechanism('HMAC_256', 'GENERATE_VERIFY_MAC');
  if (noHmac === undefined) return { kind: 'hmac' };
  for (const canary of SIGNING_CANARIES) {
    if ((await hsm.missingMechanism(canary.spec, 'SIGN_VERIFY')) === undefined) return { kind: 'signing', ...canary };
  }
  throw new HsmError('HSM_UNSUPPORTED', `the token can run no health check: ${noGcm}, ${noHmac}, and it can make no ECDSA P-256 or RSA-2048 signing key`);
}

const DIGEST = (probe: Buffer): Buffer => createHash('sha256').update(probe).digest();

/** Makes sure the member's canary key exists (generates it on first use; another node's serves too). */
export async function ensureCanary(hsm: Pkcs11Hsm): Promise<void> {
  const canary = await canaryKindOf(hsm);
  await useOrMake(
    async () => {
      if (canary.kind === 'aes-gcm') await hsm.encrypt(CANARY_REF, Buffer.alloc(1), Buffer.alloc(0));
      else if (canary.kind === 'hmac') await hsm.mac(HMAC_CANARY_REF, 'HMAC_SHA_256', Buffer.alloc(1));
      else await hsm.sign(SIGNING_CANARY_REF, canary.algorithm, DIGEST(Buffer.alloc(1)));
    },
    async () => {
      if (canary.kind === 'aes-gcm') await hsm.generateSymmetricKey(CANARY_REF);
      else if (canary.kind === 'hmac') await hsm.generateMacKey(HMAC_CANARY_REF, 'HMAC_256');
      else await hsm.generateKeyPair(SIGNING_CANARY_REF, canary.spec, 'SIGN_VERIFY');
    },
  );
}

/**
 * Encrypts 16 random bytes and decrypts them again (or MACs or signs them and verifies); throws
 * HsmError when anything differs.
 */
export async function deepCheck(hsm: Pkcs11Hsm): Promise<void> {
  const probe = randomBytes(16);
  const canary = await canaryKindOf(hsm);
  if (canary.kind === 'signing') {
    const signature = await hsm.sign(SIGNING_CANARY_REF, canary.algorithm, DIGEST(probe));
    if (!(await hsm.verify(SIGNING_CANARY_REF, canary.spec, canary.algorithm, DIGEST(probe), signature))) throw new HsmError('HSM_FAILED', 'the deep check could not verify its own signature');
    return;
  }
  if (canary.kind === 'hmac') {
    const tag = await hsm.mac(HMAC_CANARY_REF, 'HMAC_SHA_256', probe);
    if (!(await hsm.verifyMac(HMAC_CANARY_REF, 'HMAC_SHA_256', probe, tag))) throw new HsmError('HSM_FAILED', 'the deep check could not verify its own MAC');
    return;
  }
  const sealed = await hsm.encrypt(CANARY_REF, probe, AAD);
  const opened = await hsm.decrypt(CANARY_REF, sealed.iv, sealed.ciphertext, sealed.tag, AAD);
  if (!opened.equals(probe)) throw new HsmError('HSM_FAILED', 'the deep check decrypted something else than it encrypted');
}
