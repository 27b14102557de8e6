// Templates for keys that move between the members of a cluster in `keybridge` replication mode.
//
// A backing key may leave the member that generated it only wrapped under the cluster's trusted
// wrapping key: it is generated CKA_SENSITIVE=true, CKA_EXTRACTABLE=true, CKA_WRAP_WITH_TRUSTED=true,
// and the token refuses to wrap it under any key without CKA_TRUSTED=true (CKR_KEY_NOT_WRAPPABLE).
// Only the security officer can set CKA_TRUSTED, so only the SO's ceremony (`keybridge cluster
// init`) decides which key may carry backing keys between members. Copies unwrapped into the other
// members are made the same way (CKA_EXTRACTABLE=true under CKA_WRAP_WITH_TRUSTED=true, sensitive),
// as CloudHSM's own cluster sync keeps keys movable between its HSMs: any surviving member can
// seed a replacement, so losing the member a key was made on does not shrink the cluster for ever
// (`keybridge cluster replace-member`). Every copy stays out of reach of every untrusted key.

import pkcs11js from 'pkcs11js';

import type { AsymmetricKeySpec, HmacSpec } from '../../domain/key-spec.js';
import { HMAC_KEY_BYTES } from '../../domain/key-spec.js';
import type { BackingKeyRef } from '../../ports/hsm.js';
import { dataKeyPairTemplates, REQUIRED_PRIVATE_KEY_FLAGS } from './asymmetric-templates.js';
import { macObjectId } from './cbc-hmac.js';
import { aesBackingKeyTemplate, backingKeyId, REQUIRED_KEY_FLAGS } from './key-templates.js';

/** CKA_LABEL of the trusted wrapping key on every member of a `keybridge`-replicated cluster. */
export const CLUSTER_WRAPPING_KEY_LABEL = 'keybridge:internal:cluster-wrap';

/** RFC 3394 AES key wrap: deterministic, integrity-protected, supported by every HSM we profile. */
export const AES_KEY_WRAP: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP };

/**
 * RFC 5649 AES key wrap with padding: for what is not a whole number of 8-byte blocks, i.e. PKCS#8
 * private keys and HMAC keys (HMAC_224 is 28 bytes). Unlike RFC 3394 it records the exact length,
 * so the unwrapped key is the original, not one zero-padded to the block size.
 */
export const AES_KEY_WRAP_PAD: pkcs11js.Mechanism = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };

type Flag = (typeof REQUIRED_KEY_FLAGS)[number];

function withFlags(template: pkcs11js.Template, changes: ReadonlyMap<number, boolean>): pkcs11js.Template {
  return template.map((attr) => (changes.has(attr.type) ? { type: attr.type, value: changes.get(attr.type)! } : attr));
}

/** The origin copy: like every backing key, but extractable under a trusted key only. */
export function replicableAesTemplate(ref: BackingKeyRef): pkcs11js.Template {
  return [
    ...withFlags(aesBackingKeyTemplate(ref), new Map([[pkcs11js.CKA_EXTRACTABLE, true]])),
    { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
  ];
}

/** What the origin copy must show when read back. */
export const REPLICABLE_KEY_FLAGS: readonly Flag[] = [
  ...REQUIRED_KEY_FLAGS.filter((flag) => flag.type !== pkcs11js.CKA_EXTRACTABLE && flag.type !== pkcs11js.CKA_NEVER_EXTRACTABLE),
  { type: pkcs11js.CKA_EXTRACTABLE, name: 'CKA_EXTRACTABLE', value: true },
  { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, name: 'CKA_WRAP_WITH_TRUSTED', value: true },
];

/**
 * An AES key unwrapped into a token: sensitive and non-extractable (imported key material).
 * CKA_VALUE_LEN is not given (C_UnwrapKey takes the length from the unwrapped value; SoftHSM2
 * rejects it as CKR_TEMPLATE_INCONSISTENT).
 */
export function unwrappedAesTemplate(ref: BackingKeyRef): pkcs11js.Template {
  return aesBackingKeyTemplate(ref).filter((attr) => attr.type !== pkcs11js.CKA_VALUE_LEN);
}

/** A replica unwrapped into another member: like the origin copy, wrappable under a trusted key only. */
export function replicaAesTemplate(ref: BackingKeyRef): pkcs11js.Template {
  return [...withFlags(unwrappedAesTemplate(ref), new Map([[pkcs11js.CKA_EXTRACTABLE, true]])), { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }];
}

/** What an unwrapped copy must show. CKA_NEVER_EXTRACTABLE is false on a copy by definition. */
export const UNWRAPPED_KEY_FLAGS: readonly Flag[] = REQUIRED_KEY_FLAGS.filter((flag) => flag.type !== pkcs11js.CKA_NEVER_EXTRACTABLE);

/**
 * The trusted wrapping key as the security officer installs it: a public token object (an SO
 * session cannot create private ones), sensitive, non-extractable, usable only to wrap and unwrap.
 */
export function clusterWrappingKeyTemplate(value: Buffer): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_TRUSTED, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
    { type: pkcs11js.CKA_LABEL, value: CLUSTER_WRAPPING_KEY_LABEL },
    { type: pkcs11js.CKA_VALUE, value },
  ];
}

export function findWrappingKeyTemplate(): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: CLUSTER_WRAPPING_KEY_LABEL },
    { type: pkcs11js.CKA_TRUSTED, value: true },
  ];
}

// --- Key pairs and HMAC keys (issue #8) ---------------------------------------------------------
//
// Measured on SoftHSM2 2.6.1: RSA and EC (P-256/P-384/P-521/secp256k1) private keys and generic
// secrets wrap under CKM_AES_KEY_WRAP_PAD and unwrap into another token; Ed25519 private keys do
// not wrap at all (CKR_KEY_NOT_WRAPPABLE, even non-sensitive ones). The unwrap template must not
// name what the wrapped PKCS#8 already carries (CKA_EC_PARAMS: CKR_ATTRIBUTE_READ_ONLY) nor
// CKA_VALUE_LEN (CKR_ATTRIBUTE_READ_ONLY; SoftHSM2 then reads it back as 0, though the key has its
// full length). A copy shows CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE and CKA_LOCAL false.

/**
 * The key objects a KMS key's material has in a token: one secret key, or a private and a public
 * key; a material of the AES_256_CBC_HMAC_SHA_256 suite has a secret key and its MAC key (`mac`,
 * cbc-hmac.ts).
 */
export type KeyObjectKind = 'secret' | 'mac' | 'private' | 'public';

export const OBJECT_CLASS: Readonly<Record<KeyObjectKind, number>> = {
  secret: pkcs11js.CKO_SECRET_KEY,
  mac: pkcs11js.CKO_SECRET_KEY,
  private: pkcs11js.CKO_PRIVATE_KEY,
  public: pkcs11js.CKO_PUBLIC_KEY,
};

/**
 * The usage attributes a copy takes over from its source as they are, per object class: what the
 * key may do is decided once, at generation, and the copies never differ from the original.
 */
const SECRET_USAGE = [
  { type: pkcs11js.CKA_ENCRYPT, name: 'CKA_ENCRYPT' },
  { type: pkcs11js.CKA_DECRYPT, name: 'CKA_DECRYPT' },
  { type: pkcs11js.CKA_SIGN, name: 'CKA_SIGN' },
  { type: pkcs11js.CKA_VERIFY, name: 'CKA_VERIFY' },
  { type: pkcs11js.CKA_WRAP, name: 'CKA_WRAP' },
  { type: pkcs11js.CKA_UNWRAP, name: 'CKA_UNWRAP' },
  { type: pkcs11js.CKA_DERIVE, name: 'CKA_DERIVE' },
] as const;

export const USAGE_ATTRIBUTES: Readonly<Record<KeyObjectKind, readonly { readonly type: number; readonly name: string }[]>> = {
  secret: SECRET_USAGE,
  mac: SECRET_USAGE,
  private: [
    { type: pkcs11js.CKA_SIGN, name: 'CKA_SIGN' },
    { type: pkcs11js.CKA_DECRYPT, name: 'CKA_DECRYPT' },
    { type: pkcs11js.CKA_DERIVE, name: 'CKA_DERIVE' },
    { type: pkcs11js.CKA_UNWRAP, name: 'CKA_UNWRAP' },
  ],
  public: [
    { type: pkcs11js.CKA_VERIFY, name: 'CKA_VERIFY' },
    { type: pkcs11js.CKA_ENCRYPT, name: 'CKA_ENCRYPT' },
    { type: pkcs11js.CKA_WRAP, name: 'CKA_WRAP' },
  ],
};

/** The public attributes of a public key (C_CreateObject needs the values, not CKA_MODULUS_BITS). */
export function publicValueAttributes(keyType: number): readonly number[] {
  return keyType === pkcs11js.CKK_RSA ? [pkcs11js.CKA_MODULUS, pkcs11js.CKA_PUBLIC_EXPONENT] : [pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_EC_POINT];
}

/**
 * What identifies the key material of a private key beyond its type, read from the source and
 * checked on the copy: the RSA modulus, or the curve.
 */
export function privateIdentityAttribute(keyType: number): number {
  return keyType === pkcs11js.CKK_RSA ? pkcs11js.CKA_MODULUS : pkcs11js.CKA_EC_PARAMS;
}

/**
 * One key object as it travels from one member to another. Derived from the source object's
 * attributes, so a resync needs no metadata to know what to create.
 * WARNING: `wrapped` is key material under the trusted wrapping key; zero it once imported.
 */
export interface KeyObjectCopy {
  readonly kind: KeyObjectKind;
  readonly keyType: number;
  /** USAGE_ATTRIBUTES[kind] with the source's values. */
  readonly usage: readonly { readonly type: number; readonly value: boolean }[];
  /** Secret and private keys: wrapped under the trusted key (AES keys RFC 3394, others RFC 5649). */
  readonly wrapped?: Buffer;
  /** Private keys: the RSA modulus or the curve (privateIdentityAttribute), to check the copy by. */
  readonly identity?: Buffer;
  /** Secret keys: the length in bytes (RFC 5649 keeps it; SoftHSM2 reports 0 on the copy). */
  readonly valueLen?: number;
  /** Public keys: CKA_MODULUS + CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS + CKA_EC_POINT. */
  readonly publicValues?: readonly { readonly type: number; readonly value: Buffer }[];
}

/** The mechanism a secret or private key of this type travels under. */
export function wrapMechanismFor(kind: KeyObjectKind, keyType: number): pkcs11js.Mechanism {
  return kind === 'secret' && keyType === pkcs11js.CKK_AES ? AES_KEY_WRAP : AES_KEY_WRAP_PAD;
}

/** A generation template (asymmetric-templates.ts) made into the origin copy's: wrappable under a trusted key only. */
export function replicable(template: pkcs11js.Template): pkcs11js.Template {
  return [...withFlags(template, new Map([[pkcs11js.CKA_EXTRACTABLE, true]])), { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }];
}

/** What the origin copy of a private key or HMAC key must show when read back. */
export const REPLICABLE_PRIVATE_KEY_FLAGS: readonly Flag[] = [
  ...REQUIRED_PRIVATE_KEY_FLAGS.filter((flag) => flag.type !== pkcs11js.CKA_EXTRACTABLE && flag.type !== pkcs11js.CKA_NEVER_EXTRACTABLE),
  { type: pkcs11js.CKA_EXTRACTABLE, name: 'CKA_EXTRACTABLE', value: true },
  { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, name: 'CKA_WRAP_WITH_TRUSTED', value: true },
];

/** What an unwrapped private key or HMAC key must show (CKA_NEVER_EXTRACTABLE is false on a copy). */
export const UNWRAPPED_PRIVATE_KEY_FLAGS: readonly Flag[] = REQUIRED_PRIVATE_KEY_FLAGS.filter((flag) => flag.type !== pkcs11js.CKA_NEVER_EXTRACTABLE);

/**
 * A private key or HMAC key unwrapped into another member: a persistent private token object,
 * sensitive and wrappable under a trusted key only (as the origin copy, so it can seed a member in
 * turn), with the source's usage, CKA_ID and CKA_LABEL. Nothing the wrapped value carries (curve,
 * modulus, length) is named: SoftHSM2 2.6.1 rejects it.
 */
export function unwrappedKeyTemplate(ref: BackingKeyRef, copy: KeyObjectCopy): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: OBJECT_CLASS[copy.kind] },
    { type: pkcs11js.CKA_KEY_TYPE, value: copy.keyType },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
    ...copy.usage.map(({ type, value }) => ({ type, value })),
    { type: pkcs11js.CKA_ID, value: copy.kind === 'mac' ? macObjectId(ref) : backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
  ];
}

/** The public key object created on another member: the generation template's shape, with the values. */
export function publicKeyCopyTemplate(ref: BackingKeyRef, copy: KeyObjectCopy): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: copy.keyType },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
    { type: pkcs11js.CKA_LABEL, value: ref.label },
    ...(copy.publicValues ?? []).map(({ type, value }) => ({ type, value })),
    ...copy.usage.map(({ type, value }) => ({ type, value })),
  ];
}

/**
 * Session objects that probe whether the token can wrap private keys (or HMAC keys) of this spec's
 * type under the trusted key at all: made like the origin copy, wrapped, thrown away.
 */
export function wrapProbeTemplates(spec: AsymmetricKeySpec): { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template } {
  const { publicKey, privateKey } = dataKeyPairTemplates(spec);
  return { publicKey, privateKey: replicable(withFlags(privateKey, new Map([[pkcs11js.CKA_SENSITIVE, true]]))) };
}

export function hmacWrapProbeTemplate(spec: HmacSpec): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
    { type: pkcs11js.CKA_VALUE_LEN, value: HMAC_KEY_BYTES[spec] },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true },
    { type: pkcs11js.CKA_SIGN, value: true },
  ];
}
