// Attribute templates for backing keys: the one template keys are generated with, the templates we
// search with, and the attributes we read back to prove the token honoured the template.

import pkcs11js from 'pkcs11js';

import type { BackingKeyRef } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';

/** CKA_ID of a backing key: 32 bytes, written as 64 hex digits in BackingKeyRef.id. */
export const BACKING_KEY_ID_BYTES = 32;
export const BACKING_KEY_LABEL_PREFIX = 'arn:';
/** keybridge's own keys (e.g. the one that seals custom key store passwords); never KMS keys. */
export const INTERNAL_KEY_LABEL_PREFIX = 'keybridge:internal:';
const AES_256_BYTES = 32;

export const AES_KEY_GEN: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_GEN };

/** The CKA_ID bytes of `ref`; throws (HSM_FAILED: a caller bug, not a client error) when malformed. */
export function backingKeyId(ref: BackingKeyRef): Buffer {
  if (!/^[0-9a-fA-F]{64}$/u.test(ref.id)) {
    throw new HsmError('HSM_FAILED', `a backing key id must be ${BACKING_KEY_ID_BYTES * 2} hex digits`);
  }
  return Buffer.from(ref.id, 'hex');
}

/**
 * The AES-256 backing key: a persistent, private token object that can only encrypt and decrypt
 * and never leaves the token in plaintext.
 * WARNING: CKA_SENSITIVE=true and CKA_EXTRACTABLE=false are the product's core promise; CKA_WRAP and
 * CKA_UNWRAP stay false so the key can never be used to move other keys out either.
 */
export function aesBackingKeyTemplate(ref: BackingKeyRef): pkcs11js.Template {
  if (!ref.label.startsWith(BACKING_KEY_LABEL_PREFIX) && !ref.label.startsWith(INTERNAL_KEY_LABEL_PREFIX)) {
    throw new HsmError('HSM_FAILED', 'a backing key label must be the key ARN (or an internal key label)');
  }
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: AES_256_BYTES },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
}

/** Boolean attributes a generated backing key must show when read back, and their values. */
export const REQUIRED_KEY_FLAGS: readonly { readonly type: number; readonly name: string; readonly value: boolean }[] = [
  { type: pkcs11js.CKA_TOKEN, name: 'CKA_TOKEN', value: true },
  { type: pkcs11js.CKA_PRIVATE, name: 'CKA_PRIVATE', value: true },
  { type: pkcs11js.CKA_SENSITIVE, name: 'CKA_SENSITIVE', value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, name: 'CKA_EXTRACTABLE', value: false },
  { type: pkcs11js.CKA_NEVER_EXTRACTABLE, name: 'CKA_NEVER_EXTRACTABLE', value: true },
  { type: pkcs11js.CKA_WRAP, name: 'CKA_WRAP', value: false },
  { type: pkcs11js.CKA_UNWRAP, name: 'CKA_UNWRAP', value: false },
];

/** Finds the secret key with this CKA_ID (CKA_ID alone is not unique across object classes). */
export function findByIdTemplate(id: Buffer): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_ID, value: id },
  ];
}

/**
 * The backing key objects with this CKA_ID and CKA_LABEL: destructive calls match both, so a caller
 * bug that pairs an id with the wrong ARN destroys nothing.
 */
export function findByRefTemplate(ref: BackingKeyRef): pkcs11js.Template {
  // No CKA_CLASS: a key pair's private and public objects share the id and label, and both go.
  return [
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
}

/** Every secret key visible to the user; callers filter for keybridge's id and label shape. */
export function allSecretKeysTemplate(): pkcs11js.Template {
  return [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }];
}
