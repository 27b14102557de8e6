// The key-spec table: which key usages each KeySpec allows, and which algorithms each (spec, usage)
// pair offers, exactly as AWS defines them (reference §2 "Key spec → key usage → algorithms").
// Everything operations need to validate a request against a key lives here; the HSM adapter maps
// the same names to mechanisms.

export const KEY_SPECS = [
  'SYMMETRIC_DEFAULT',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
  'ECC_NIST_EDWARDS25519',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
] as const;
/** The key specs keybridge can create (SM2 and ML-DSA are refused at CreateKey). */
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export type RsaSpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096';
export type EccSpec = 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'ECC_NIST_P521' | 'ECC_SECG_P256K1';
export type HmacSpec = 'HMAC_224' | 'HMAC_256' | 'HMAC_384' | 'HMAC_512';
/** Specs whose material is a key pair (a private and a public key object in the HSM). */
export type AsymmetricKeySpec = RsaSpec | EccSpec | 'ECC_NIST_EDWARDS25519';

export type EncryptionAlgorithm = 'SYMMETRIC_DEFAULT' | 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256';
export type SigningAlgorithm =
  | 'RSASSA_PSS_SHA_256'
  | 'RSASSA_PSS_SHA_384'
  | 'RSASSA_PSS_SHA_512'
  | 'RSASSA_PKCS1_V1_5_SHA_256'
  | 'RSASSA_PKCS1_V1_5_SHA_384'
  | 'RSASSA_PKCS1_V1_5_SHA_512'
  | 'ECDSA_SHA_256'
  | 'ECDSA_SHA_384'
  | 'ECDSA_SHA_512'
  | 'ED25519_SHA_512'
  | 'ED25519_PH_SHA_512';
export type MacAlgorithm = 'HMAC_SHA_224' | 'HMAC_SHA_256' | 'HMAC_SHA_384' | 'HMAC_SHA_512';
export type KeyAgreementAlgorithm = 'ECDH';
export type HashName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** The algorithm lists DescribeKey and GetPublicKey report for a key. */
export interface KeyAlgorithms {
  readonly encryption?: readonly EncryptionAlgorithm[];
  readonly signing?: readonly SigningAlgorithm[];
  readonly mac?: readonly MacAlgorithm[];
  readonly keyAgreement?: readonly KeyAgreementAlgorithm[];
}

const RSA_SIGNING: readonly SigningAlgorithm[] = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
];
const RSA_ENCRYPTION: readonly EncryptionAlgorithm[] = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'];

interface SpecEntry {
  readonly usages: Partial<Record<KeyUsage, KeyAlgorithms>>;
}

// ED25519_PH_SHA_512 (pre-hashed Ed25519) needs CK_EDDSA_PARAMS, which pkcs11js cannot pass;
// keybridge offers only ED25519_SHA_512 for Edwards keys and refuses the other as a wrong algorithm.
const TABLE: Record<KeySpec, SpecEntry> = {
  SYMMETRIC_DEFAULT: { usages: { ENCRYPT_DECRYPT: { encryption: ['SYMMETRIC_DEFAULT'] } } },
  RSA_2048: { usages: { ENCRYPT_DECRYPT: { encryption: RSA_ENCRYPTION }, SIGN_VERIFY: { signing: RSA_SIGNING } } },
  RSA_3072: { usages: { ENCRYPT_DECRYPT: { encryption: RSA_ENCRYPTION }, SIGN_VERIFY: { signing: RSA_SIGNING } } },
  RSA_4096: { usages: { ENCRYPT_DECRYPT: { encryption: RSA_ENCRYPTION }, SIGN_VERIFY: { signing: RSA_SIGNING } } },
  ECC_NIST_P256: { usages: { SIGN_VERIFY: { signing: ['ECDSA_SHA_256'] }, KEY_AGREEMENT: { keyAgreement: ['ECDH'] } } },
  ECC_NIST_P384: { usages: { SIGN_VERIFY: { signing: ['ECDSA_SHA_384'] }, KEY_AGREEMENT: { keyAgreement: ['ECDH'] } } },
  ECC_NIST_P521: { usages: { SIGN_VERIFY: { signing: ['ECDSA_SHA_512'] }, KEY_AGREEMENT: { keyAgreement: ['ECDH'] } } },
  ECC_SECG_P256K1: { usages: { SIGN_VERIFY: { signing: ['ECDSA_SHA_256'] } } },
  ECC_NIST_EDWARDS25519: { usages: { SIGN_VERIFY: { signing: ['ED25519_SHA_512'] } } },
  HMAC_224: { usages: { GENERATE_VERIFY_MAC: { mac: ['HMAC_SHA_224'] } } },
  HMAC_256: { usages: { GENERATE_VERIFY_MAC: { mac: ['HMAC_SHA_256'] } } },
  HMAC_384: { usages: { GENERATE_VERIFY_MAC: { mac: ['HMAC_SHA_384'] } } },
  HMAC_512: { usages: { GENERATE_VERIFY_MAC: { mac: ['HMAC_SHA_512'] } } },
};

export function isKeySpec(value: string): value is KeySpec {
  return (KEY_SPECS as readonly string[]).includes(value);
}

export function isKeyUsage(value: string): value is KeyUsage {
  return (KEY_USAGES as readonly string[]).includes(value);
}

export function usagesOf(spec: KeySpec): KeyUsage[] {
  return Object.keys(TABLE[spec].usages) as KeyUsage[];
}

/** The algorithms a key of this spec and usage offers; undefined when the pair is not allowed. */
export function algorithmsOf(spec: KeySpec, usage: KeyUsage): KeyAlgorithms | undefined {
  return TABLE[spec].usages[usage];
}

export function isRsaSpec(spec: KeySpec): spec is RsaSpec {
  return spec === 'RSA_2048' || spec === 'RSA_3072' || spec === 'RSA_4096';
}

export function isEccSpec(spec: KeySpec): spec is EccSpec {
  return spec === 'ECC_NIST_P256' || spec === 'ECC_NIST_P384' || spec === 'ECC_NIST_P521' || spec === 'ECC_SECG_P256K1';
}

export function isHmacSpec(spec: KeySpec): spec is HmacSpec {
  return spec.startsWith('HMAC_');
}

export function isAsymmetricSpec(spec: KeySpec): spec is AsymmetricKeySpec {
  return isRsaSpec(spec) || isEccSpec(spec) || spec === 'ECC_NIST_EDWARDS25519';
}

export const RSA_BITS: Record<RsaSpec, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };

/** HMAC key length in bytes: the hash's output length, as AWS generates them. */
export const HMAC_KEY_BYTES: Record<HmacSpec, number> = { HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64 };

/** Bytes of an ECDH shared secret (the x coordinate) per curve. */
export const ECC_FIELD_BYTES: Record<EccSpec, number> = { ECC_NIST_P256: 32, ECC_NIST_P384: 48, ECC_NIST_P521: 66, ECC_SECG_P256K1: 32 };

/** How a signing algorithm hashes: the hash, and the digest length a DIGEST message must have. */
export interface SigningScheme {
  readonly family: 'pss' | 'pkcs1' | 'ecdsa' | 'ed25519';
  /** undefined for ED25519_SHA_512, which signs the message itself (PureEdDSA). */
  readonly hash: HashName | undefined;
  readonly digestBytes: number | undefined;
}

const HASH_BYTES: Record<HashName, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

export function signingScheme(algorithm: SigningAlgorithm): SigningScheme {
  if (algorithm === 'ED25519_SHA_512') return { family: 'ed25519', hash: undefined, digestBytes: undefined };
  if (algorithm === 'ED25519_PH_SHA_512') return { family: 'ed25519', hash: 'sha512', digestBytes: 64 };
  const hash = `sha${algorithm.slice(-3)}` as HashName;
  const family = algorithm.startsWith('RSASSA_PSS') ? 'pss' : algorithm.startsWith('RSASSA_PKCS1') ? 'pkcs1' : 'ecdsa';
  return { family, hash, digestBytes: HASH_BYTES[hash] };
}

export function macHash(algorithm: MacAlgorithm): HashName {
  return `sha${algorithm.slice(-3)}` as HashName;
}

export function oaepHash(algorithm: 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256'): 'sha1' | 'sha256' {
  return algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
}

/** The largest plaintext RSAES-OAEP takes: k − 2·hLen − 2 (reference §5.3: 214/190 for RSA_2048). */
export function oaepMaxPlaintext(spec: RsaSpec, algorithm: 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256'): number {
  return RSA_BITS[spec] / 8 - 2 * HASH_BYTES[oaepHash(algorithm)] - 2;
}

/** Data key pairs (GenerateDataKeyPair): every asymmetric spec keybridge can generate. */
export const DATA_KEY_PAIR_SPECS: readonly AsymmetricKeySpec[] = KEY_SPECS.filter(isAsymmetricSpec);
