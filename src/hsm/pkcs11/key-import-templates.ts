// Attribute templates for importing key material (BYOK): the RSA wrapping key pair of a
// GetParametersForImport, the session objects of a staged import (key-import.ts), and the token
// objects the material ends up in.
//
// The imported objects are made from the very templates generated keys are made from
// (key-templates.ts, asymmetric-templates.ts), so an imported key may do exactly what a generated
// key of its spec and usage may do. Measured on SoftHSM2 2.6.1 (next-wave.md B.2): an unwrap
// template must not name what the wrapped value carries (CKA_VALUE_LEN, CKA_EC_PARAMS:
// CKR_ATTRIBUTE_READ_ONLY / CKR_TEMPLATE_INCONSISTENT), and SoftHSM2 defaults every usage
// attribute it is not told to true, so the session objects here name each one.

import pkcs11js from 'pkcs11js';

import type { EccSpec, HmacSpec, KeyUsage, RsaSpec } from '../../domain/key-spec.js';
import { RSA_BITS } from '../../domain/key-spec.js';
import { HsmError, IMPORT_WRAPPING_KEY_LABEL, type BackingKeyRef, type ImportWrappingKeySpec } from '../../ports/hsm.js';
import { hmacKeyTemplate, keyPairTemplates, REQUIRED_PRIVATE_KEY_FLAGS } from './asymmetric-templates.js';
import { backingKeyId } from './key-templates.js';
import { UNWRAPPED_PRIVATE_KEY_FLAGS, USAGE_ATTRIBUTES, unwrappedAesTemplate, type KeyObjectKind } from './replication-templates.js';

type Flag = (typeof REQUIRED_PRIVATE_KEY_FLAGS)[number];

/** What imported material becomes, by the KMS key's spec (and usage, for key pairs). */
export type ImportTarget =
  | { readonly kind: 'aes' }
  | { readonly kind: 'hmac'; readonly spec: HmacSpec }
  | { readonly kind: 'rsa'; readonly spec: RsaSpec; readonly usage: KeyUsage }
  | { readonly kind: 'ec'; readonly spec: EccSpec; readonly usage: KeyUsage };

export function objectClassOf(target: ImportTarget): number {
  return target.kind === 'aes' || target.kind === 'hmac' ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY;
}

export function keyTypeOf(target: ImportTarget): number {
  switch (target.kind) {
    case 'aes':
      return pkcs11js.CKK_AES;
    case 'hmac':
      return pkcs11js.CKK_GENERIC_SECRET;
    case 'rsa':
      return pkcs11js.CKK_RSA;
    case 'ec':
      return pkcs11js.CKK_EC;
  }
}

// --- The wrapping key pair -----------------------------------------------------------------------

/**
 * The RSA key pair of one GetParametersForImport: the private key can only unwrap (never decrypt,
 * sign or leave the token); the public key can do nothing — keybridge only reads its values.
 */
export function importWrappingKeyTemplates(ref: BackingKeyRef, spec: ImportWrappingKeySpec): { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template } {
  if (ref.label !== IMPORT_WRAPPING_KEY_LABEL) {
    // Also what keeps the pair out of listSymmetricKeys (KMS keys are labelled with their ARN).
    throw new HsmError('HSM_FAILED', `an import wrapping key is labelled ${IMPORT_WRAPPING_KEY_LABEL}`);
  }
  const common: pkcs11js.Template = [
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
  return {
    publicKey: [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      ...common,
      { type: pkcs11js.CKA_MODULUS_BITS, value: RSA_BITS[spec] },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
      { type: pkcs11js.CKA_ENCRYPT, value: false },
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
    ],
    privateKey: [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ...common,
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ],
  };
}

/** What the wrapping private key must show when read back. */
export const IMPORT_WRAPPING_KEY_FLAGS: readonly Flag[] = [
  ...REQUIRED_PRIVATE_KEY_FLAGS,
  { type: pkcs11js.CKA_UNWRAP, name: 'CKA_UNWRAP', value: true },
  { type: pkcs11js.CKA_DECRYPT, name: 'CKA_DECRYPT', value: false },
  { type: pkcs11js.CKA_SIGN, name: 'CKA_SIGN', value: false },
  { type: pkcs11js.CKA_DERIVE, name: 'CKA_DERIVE', value: false },
];

export function findImportWrappingKeyTemplate(ref: BackingKeyRef): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
}

// --- Session objects of a staged import -----------------------------------------------------------

const USAGES = [pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT, pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY, pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP, pkcs11js.CKA_DERIVE];

/** A session secret key allowed exactly `allowed` (every other usage named false). */
function sessionSecret(keyType: number, extractable: boolean, allowed: readonly number[]): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: extractable },
    ...USAGES.map((type) => ({ type, value: allowed.includes(type) })),
  ];
}

/**
 * The staged copy S of the material: a session object, sensitive, extractable only so that it can
 * be wrapped under the in-token transport key (for the length check and the final unwrap). It may
 * sign — the fingerprint of a secret key, the self-test signature of a private key — and an EC key
 * may derive (ECDH with the generator gives its public x coordinate).
 */
export function stagingTemplate(target: ImportTarget): pkcs11js.Template {
  if (target.kind === 'aes' || target.kind === 'hmac') return sessionSecret(keyTypeOf(target), true, [pkcs11js.CKA_SIGN]);
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyTypeOf(target) },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_SIGN, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    target.kind === 'rsa' ? { type: pkcs11js.CKA_DECRYPT, value: false } : { type: pkcs11js.CKA_DERIVE, value: true },
  ];
}

/** The ephemeral AES key of RSA_AES_KEY_WRAP_*, unwrapped from its OAEP block: it can only unwrap. */
export const EPHEMERAL_KEK_TEMPLATE: pkcs11js.Template = sessionSecret(pkcs11js.CKK_AES, false, [pkcs11js.CKA_UNWRAP]);

/** The transport key W, generated in the token for one import: S leaves it, and the final object enters it, under W. */
export const TRANSPORT_KEY_TEMPLATE: pkcs11js.Template = [
  ...sessionSecret(pkcs11js.CKK_AES, false, [pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP]),
  { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
];

/**
 * The same wrapped material unwrapped as a generic secret that can do nothing, after it would not
 * unwrap as the target: if it unwraps like this, the blob decrypted and the material is not a key
 * of the target's type (SoftHSM2 2.6.1 answers both cases with the same codes).
 */
export const TYPE_PROBE_TEMPLATE: pkcs11js.Template = sessionSecret(pkcs11js.CKK_GENERIC_SECRET, false, []);

// --- The imported objects -----------------------------------------------------------------------

/**
 * The material's persistent object, as a generated key of its spec and usage, with CKA_ID = the
 * material id and CKA_LABEL = the key ARN. Nothing the wrapped value carries is named.
 */
export function importedKeyTemplate(ref: BackingKeyRef, target: ImportTarget): pkcs11js.Template {
  switch (target.kind) {
    case 'aes':
      return unwrappedAesTemplate(ref);
    case 'hmac':
      return hmacKeyTemplate(ref, target.spec).filter((attr) => attr.type !== pkcs11js.CKA_VALUE_LEN);
    case 'rsa':
    case 'ec':
      return keyPairTemplates(ref, target.spec, target.usage).privateKey;
  }
}

// What a generation template says about the key's size or curve: C_CreateObject takes the values.
const GENERATION_PARAMETERS: ReadonlySet<number> = new Set([pkcs11js.CKA_MODULUS_BITS, pkcs11js.CKA_PUBLIC_EXPONENT, pkcs11js.CKA_EC_PARAMS]);

/**
 * The public object of an imported key pair, for C_CreateObject: a generated pair's public
 * template with the public values derived from the private key (CKA_MODULUS + CKA_PUBLIC_EXPONENT,
 * or CKA_EC_PARAMS + CKA_EC_POINT).
 */
export function importedPublicKeyTemplate(ref: BackingKeyRef, target: ImportTarget & { kind: 'rsa' | 'ec' }, values: pkcs11js.Template): pkcs11js.Template {
  const { publicKey } = keyPairTemplates(ref, target.spec, target.usage);
  return [...publicKey.filter((attr) => !GENERATION_PARAMETERS.has(attr.type)), ...values];
}

/**
 * What an imported object must show when read back: sensitive, non-extractable token object
 * (CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE and CKA_LOCAL are false on anything unwrapped, by
 * the standard), with every usage attribute its template names.
 */
export function importedObjectFlags(kind: KeyObjectKind, template: pkcs11js.Template): readonly Flag[] {
  // UNWRAPPED_PRIVATE_KEY_FLAGS serve secret keys as well: UNWRAPPED_KEY_FLAGS adds only CKA_WRAP
  // and CKA_UNWRAP, which the usage below covers.
  const base = kind === 'public' ? UNWRAPPED_PRIVATE_KEY_FLAGS.filter((flag) => flag.type === pkcs11js.CKA_TOKEN || flag.type === pkcs11js.CKA_PRIVATE) : UNWRAPPED_PRIVATE_KEY_FLAGS;
  const usage = USAGE_ATTRIBUTES[kind].flatMap(({ type, name }) => {
    const value = template.find((attr) => attr.type === type)?.value;
    return typeof value === 'boolean' ? [{ type, name, value }] : [];
  });
  return [...base, ...usage];
}
