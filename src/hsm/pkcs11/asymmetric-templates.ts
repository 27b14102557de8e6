// Attribute templates for asymmetric (RSA, EC, Edwards) key pairs and HMAC keys, and the PKCS#11
// constants pkcs11js 2.1.7 does not export (the Edwards-curve ones from PKCS#11 v3.0).
//
// KMS keys: the private (or secret) key is a persistent, private token object, CKA_SENSITIVE=true
// and CKA_EXTRACTABLE=false, allowed only the one job its KeyUsage names. The public key is a token
// object too, so Verify and RSA Encrypt run inside the HSM. Both objects carry the key's CKA_ID
// and its ARN as CKA_LABEL, like the AES backing keys (key-templates.ts).
// In a `keybridge`-replicated cluster the origin member's private (or HMAC) key is made from these
// templates with CKA_EXTRACTABLE=true and CKA_WRAP_WITH_TRUSTED=true instead (replication-templates.ts
// `replicable`), and so are the copies on the other members (any of them can seed a new member).

import pkcs11js from 'pkcs11js';

import type { AsymmetricKeySpec, EccSpec, HmacSpec, KeyUsage } from '../../domain/key-spec.js';
import { HMAC_KEY_BYTES, RSA_BITS, isRsaSpec } from '../../domain/key-spec.js';
import type { BackingKeyRef } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';
import { BACKING_KEY_LABEL_PREFIX, backingKeyId, INTERNAL_KEY_LABEL_PREFIX } from './key-templates.js';

// PKCS#11 v3.0 numbers (pkcs11t.h); SoftHSM2 2.6.1 implements them.
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKK_EC_EDWARDS = 0x40;
export const CKZ_DATA_SPECIFIED = 0x1;

/** DER of each curve's OID, for CKA_EC_PARAMS. */
export const EC_PARAMS: Record<EccSpec | 'ECC_NIST_EDWARDS25519', Buffer> = {
  ECC_NIST_P256: Buffer.from('06082a8648ce3d030107', 'hex'), // 1.2.840.10045.3.1.7 prime256v1
  ECC_NIST_P384: Buffer.from('06052b81040022', 'hex'), // 1.3.132.0.34 secp384r1
  ECC_NIST_P521: Buffer.from('06052b81040023', 'hex'), // 1.3.132.0.35 secp521r1
  ECC_SECG_P256K1: Buffer.from('06052b8104000a', 'hex'), // 1.3.132.0.10 secp256k1
  ECC_NIST_EDWARDS25519: Buffer.from('06032b6570', 'hex'), // 1.3.101.112 id-Ed25519
};

/** Curve size in bits, for C_GetMechanismInfo key-size checks. */
export const CURVE_BITS: Record<EccSpec | 'ECC_NIST_EDWARDS25519', number> = {
  ECC_NIST_P256: 256,
  ECC_NIST_P384: 384,
  ECC_NIST_P521: 521,
  ECC_SECG_P256K1: 256,
  ECC_NIST_EDWARDS25519: 256,
};

export function keyPairMechanism(spec: AsymmetricKeySpec): pkcs11js.Mechanism {
  if (isRsaSpec(spec)) return { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN };
  if (spec === 'ECC_NIST_EDWARDS25519') return { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN };
  return { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN };
}

function checkLabel(ref: BackingKeyRef): void {
  // Internal key pairs (the audit trail's digest-signing key) carry keybridge's internal prefix.
  if (!ref.label.startsWith(BACKING_KEY_LABEL_PREFIX) && !ref.label.startsWith(INTERNAL_KEY_LABEL_PREFIX)) {
    throw new HsmError('HSM_FAILED', 'a backing key label must be the key ARN (or an internal key label)');
  }
}

function keyTypeOf(spec: AsymmetricKeySpec): number {
  if (isRsaSpec(spec)) return pkcs11js.CKK_RSA;
  return spec === 'ECC_NIST_EDWARDS25519' ? CKK_EC_EDWARDS : pkcs11js.CKK_EC;
}

function algorithmAttrs(spec: AsymmetricKeySpec): pkcs11js.Template {
  if (isRsaSpec(spec)) {
    return [
      { type: pkcs11js.CKA_MODULUS_BITS, value: RSA_BITS[spec] },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
    ];
  }
  return [{ type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[spec] }];
}

/**
 * The persistent key pair of an asymmetric KMS key. Each key may do only what its KeyUsage says.
 * WARNING: CKA_SENSITIVE=true, CKA_EXTRACTABLE=false on the private key is the product's promise.
 */
export function keyPairTemplates(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template } {
  checkLabel(ref);
  const id = backingKeyId(ref);
  const sign = usage === 'SIGN_VERIFY';
  const crypt = usage === 'ENCRYPT_DECRYPT';
  const derive = usage === 'KEY_AGREEMENT';
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeOf(spec) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_ID, value: id },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
  const publicKey: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    ...common,
    ...algorithmAttrs(spec),
    { type: pkcs11js.CKA_VERIFY, value: sign },
    { type: pkcs11js.CKA_WRAP, value: false },
    ...(isRsaSpec(spec) ? [{ type: pkcs11js.CKA_ENCRYPT, value: crypt }] : []),
  ];
  const privateKey: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    ...common,
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: sign },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    ...(isRsaSpec(spec) ? [{ type: pkcs11js.CKA_DECRYPT, value: crypt }] : [{ type: pkcs11js.CKA_DERIVE, value: derive }]),
  ];
  return { publicKey, privateKey };
}

/**
 * A data key pair (GenerateDataKeyPair): session objects that exist only for the call, not
 * sensitive and extractable because AWS returns the private key to the caller by design. They are
 * destroyed as soon as their attributes have been read.
 */
export function dataKeyPairTemplates(spec: AsymmetricKeySpec): { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template } {
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeOf(spec) },
    { type: pkcs11js.CKA_TOKEN, value: false },
  ];
  return {
    publicKey: [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, ...common, ...algorithmAttrs(spec), { type: pkcs11js.CKA_VERIFY, value: true }],
    privateKey: [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...common,
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: false },
      { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      { type: pkcs11js.CKA_SIGN, value: true },
    ],
  };
}

/** The HMAC key of a GENERATE_VERIFY_MAC KMS key: a generic secret the length of the hash. */
export function hmacKeyTemplate(ref: BackingKeyRef, spec: HmacSpec): pkcs11js.Template {
  checkLabel(ref);
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: HMAC_KEY_BYTES[spec] },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_VERIFY, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
}

/** The ECDH output: a session secret we may read (AWS returns the shared secret to the caller). */
export function sharedSecretTemplate(length: number): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: length },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: false },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ];
}

/** Finds the object of class `objectClass` with this CKA_ID. */
export function findByIdAndClassTemplate(id: Buffer, objectClass: number): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_ID, value: id },
  ];
}

/** Boolean attributes the private key of a KMS key pair must show when read back. */
export const REQUIRED_PRIVATE_KEY_FLAGS: readonly { readonly type: number; readonly name: string; readonly value: boolean }[] = [
  { type: pkcs11js.CKA_TOKEN, name: 'CKA_TOKEN', value: true },
  { type: pkcs11js.CKA_PRIVATE, name: 'CKA_PRIVATE', value: true },
  { type: pkcs11js.CKA_SENSITIVE, name: 'CKA_SENSITIVE', value: true },
  { type: pkcs11js.CKA_EXTRACTABLE, name: 'CKA_EXTRACTABLE', value: false },
  { type: pkcs11js.CKA_NEVER_EXTRACTABLE, name: 'CKA_NEVER_EXTRACTABLE', value: true },
];

/** Every private key visible to the user; callers filter for keybridge's id and label shape. */
export function allPrivateKeysTemplate(): pkcs11js.Template {
  return [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }];
}
