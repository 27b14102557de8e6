// The PKCS#11 side of asymmetric, HMAC and key-agreement operations: one function per operation,
// each taking a leased session and the object handle(s) it works with. Pkcs11Token leases the
// session and finds the handles; these functions only make the calls.
//
// Sign and Verify take what the HSM signs: the digest for RSA and ECDSA (DIGEST messages as given,
// RAW messages hashed by the caller), the message itself for Ed25519. A digest is never hashed
// again: PKCS#1 v1.5 signs the DER DigestInfo with CKM_RSA_PKCS, PSS uses CKM_RSA_PKCS_PSS with
// the hash named in its parameters, ECDSA uses CKM_ECDSA.

import pkcs11js from 'pkcs11js';

import type { AsymmetricKeySpec, EccSpec, HashName, MacAlgorithm, SigningAlgorithm } from '../../domain/key-spec.js';
import { isRsaSpec, macHash, signingScheme } from '../../domain/key-spec.js';
import { HsmError } from '../../ports/hsm.js';
import { CKM_EDDSA, CKZ_DATA_SPECIFIED, EC_PARAMS, dataKeyPairTemplates, keyPairMechanism, sharedSecretTemplate } from './asymmetric-templates.js';
import { CKR, ckrOf } from './ckr.js';
import type { Handle, Pkcs11 } from './module.js';
import { oaepDecode, oaepEncode, type OaepHash } from './oaep.js';
import { COORDINATE_BYTES, ecdsaDerToRaw, ecdsaRawToDer, pkcs8Der, spkiDer, unwrapEcPoint, type PublicKeyParts } from './spki.js';

const CKR_SIGNATURE_INVALID = 0xc0;
const CKR_SIGNATURE_LEN_RANGE = 0xc1;
const MAX_SIGNATURE_BYTES = 1024;

// DER DigestInfo headers (RFC 8017 §9.2 note 1): AlgorithmIdentifier + OCTET STRING tag/length.
const DIGEST_INFO: Partial<Record<HashName, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

const HASH_MECHANISM: Record<HashName, { hashAlg: number; mgf: number }> = {
  sha1: { hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1 },
  sha224: { hashAlg: pkcs11js.CKM_SHA224, mgf: pkcs11js.CKG_MGF1_SHA224 },
  sha256: { hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 },
  sha384: { hashAlg: pkcs11js.CKM_SHA384, mgf: pkcs11js.CKG_MGF1_SHA384 },
  sha512: { hashAlg: pkcs11js.CKM_SHA512, mgf: pkcs11js.CKG_MGF1_SHA512 },
};

const HMAC_MECHANISM: Record<MacAlgorithm, number> = {
  HMAC_SHA_224: pkcs11js.CKM_SHA224_HMAC,
  HMAC_SHA_256: pkcs11js.CKM_SHA256_HMAC,
  HMAC_SHA_384: pkcs11js.CKM_SHA384_HMAC,
  HMAC_SHA_512: pkcs11js.CKM_SHA512_HMAC,
};

/** The mechanism and the bytes the HSM signs for `algorithm` over `input` (see the file comment). */
function signingInput(algorithm: SigningAlgorithm, input: Buffer): { mechanism: pkcs11js.Mechanism; data: Buffer } {
  const scheme = signingScheme(algorithm);
  switch (scheme.family) {
    case 'pkcs1':
      return { mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS }, data: Buffer.concat([DIGEST_INFO[scheme.hash!]!, input]) };
    case 'pss': {
      const { hashAlg, mgf } = HASH_MECHANISM[scheme.hash!];
      const parameter: pkcs11js.RsaPSS = { type: pkcs11js.CK_PARAMS_RSA_PSS, hashAlg, mgf, saltLen: scheme.digestBytes! };
      return { mechanism: { mechanism: pkcs11js.CKM_RSA_PKCS_PSS, parameter }, data: input };
    }
    case 'ecdsa':
      return { mechanism: { mechanism: pkcs11js.CKM_ECDSA }, data: input };
    case 'ed25519':
      if (scheme.hash !== undefined) {
        throw new HsmError('HSM_UNSUPPORTED', 'Ed25519ph needs CK_EDDSA_PARAMS, which this PKCS#11 binding cannot pass');
      }
      return { mechanism: { mechanism: CKM_EDDSA }, data: input };
  }
}

/** Signs inside the HSM; ECDSA signatures come back DER-encoded, as AWS returns them. */
export async function sign(pkcs11: Pkcs11, session: Handle, privateKey: Handle, algorithm: SigningAlgorithm, input: Buffer): Promise<Buffer> {
  const { mechanism, data } = signingInput(algorithm, input);
  pkcs11.C_SignInit(session, mechanism, privateKey);
  const out = Buffer.from(await pkcs11.C_Sign(session, data, Buffer.alloc(MAX_SIGNATURE_BYTES)));
  return signingScheme(algorithm).family === 'ecdsa' ? ecdsaRawToDer(out) : out;
}

/** Verifies inside the HSM with the public key object; false for a signature that does not verify. */
export async function verify(
  pkcs11: Pkcs11,
  session: Handle,
  publicKey: Handle,
  spec: AsymmetricKeySpec,
  algorithm: SigningAlgorithm,
  input: Buffer,
  signature: Buffer,
): Promise<boolean> {
  const { mechanism, data } = signingInput(algorithm, input);
  let raw = signature;
  if (signingScheme(algorithm).family === 'ecdsa') {
    const decoded = ecdsaDerToRaw(signature, COORDINATE_BYTES[spec as EccSpec]);
    if (decoded === undefined) return false;
    raw = decoded;
  }
  pkcs11.C_VerifyInit(session, mechanism, publicKey);
  return verifyCall(pkcs11, session, data, raw);
}

async function verifyCall(pkcs11: Pkcs11, session: Handle, data: Buffer, signature: Buffer): Promise<boolean> {
  try {
    return await pkcs11.C_Verify(session, data, signature);
  } catch (err) {
    // C_Verify ends the operation whatever it returns, so the session is clean again.
    const code = ckrOf(err);
    if (code === CKR_SIGNATURE_INVALID || code === CKR_SIGNATURE_LEN_RANGE) return false;
    throw err;
  }
}

/** CKM_RSA_PKCS_OAEP with MGF1 over `hash` and an empty label (also what key-import.ts unwraps with). */
export function oaep(hash: 'sha1' | 'sha256'): pkcs11js.Mechanism {
  const { hashAlg, mgf } = HASH_MECHANISM[hash];
  const parameter: pkcs11js.RsaOAEP = { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg, mgf, source: CKZ_DATA_SPECIFIED };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter };
}

/** RSAES-OAEP with MGF1 over the same hash and an empty label, as AWS and OpenSSL default to. */
export async function rsaEncrypt(pkcs11: Pkcs11, session: Handle, publicKey: Handle, hash: 'sha1' | 'sha256', plaintext: Buffer): Promise<Buffer> {
  pkcs11.C_EncryptInit(session, oaep(hash), publicKey);
  return Buffer.from(await pkcs11.C_Encrypt(session, plaintext, Buffer.alloc(MAX_SIGNATURE_BYTES)));
}

export async function rsaDecrypt(pkcs11: Pkcs11, session: Handle, privateKey: Handle, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer> {
  pkcs11.C_DecryptInit(session, oaep(hash), privateKey);
  return Buffer.from(await pkcs11.C_Decrypt(session, ciphertext, Buffer.alloc(MAX_SIGNATURE_BYTES)));
}

/**
 * RSAES-OAEP done as raw RSA in the HSM (CKM_RSA_X_509) with the padding on the host (oaep.ts), for
 * a token that does RSA but not OAEP with `hash`. Encrypt: the seed comes from the HSM's RNG.
 */
export async function rsaEncryptRaw(pkcs11: Pkcs11, session: Handle, publicKey: Handle, hash: OaepHash, plaintext: Buffer): Promise<Buffer> {
  const k = modulusBytes(pkcs11, session, publicKey);
  const seed = Buffer.from(pkcs11.C_GenerateRandom(session, Buffer.alloc(hash === 'sha1' ? 20 : 32)));
  const em = oaepEncode(plaintext, k, hash, seed);
  try {
    pkcs11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_RSA_X_509 }, publicKey);
    return Buffer.from(await pkcs11.C_Encrypt(session, em, Buffer.alloc(k)));
  } finally {
    em.fill(0);
  }
}

/** Decrypt: undefined for every ciphertext that is not a valid OAEP block under this key (one outcome, no oracle). */
export async function rsaDecryptRaw(pkcs11: Pkcs11, session: Handle, privateKey: Handle, hash: OaepHash, ciphertext: Buffer): Promise<Buffer | undefined> {
  const k = modulusBytes(pkcs11, session, privateKey);
  if (ciphertext.length !== k) return undefined;
  pkcs11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_X_509 }, privateKey);
  let em: Buffer;
  try {
    em = Buffer.from(await pkcs11.C_Decrypt(session, ciphertext, Buffer.alloc(k)));
  } catch (err) {
    // A ciphertext not below the modulus: as invalid as a bad block.
    if (ckrOf(err) === CKR.CKR_ENCRYPTED_DATA_INVALID || ckrOf(err) === CKR.CKR_ENCRYPTED_DATA_LEN_RANGE) return undefined;
    throw err;
  }
  try {
    return oaepDecode(em, k, hash);
  } finally {
    em.fill(0);
  }
}

/** The RSA key's modulus length in bytes, read from the key (leading zero bytes not counted). */
export function modulusBytes(pkcs11: Pkcs11, session: Handle, key: Handle): number {
  const [modulus] = pkcs11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_MODULUS }]);
  const value = modulus?.value;
  if (!Buffer.isBuffer(value) || value.length === 0) throw new HsmError('HSM_FAILED', 'the RSA key has no readable CKA_MODULUS');
  // Leading zero bytes (some tokens keep them) are not part of the modulus length.
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start += 1;
  return value.length - start;
}

export async function hmac(pkcs11: Pkcs11, session: Handle, key: Handle, algorithm: MacAlgorithm, message: Buffer): Promise<Buffer> {
  pkcs11.C_SignInit(session, { mechanism: HMAC_MECHANISM[algorithm] }, key);
  return Buffer.from(await pkcs11.C_Sign(session, message, Buffer.alloc(64)));
}

export async function hmacVerify(pkcs11: Pkcs11, session: Handle, key: Handle, algorithm: MacAlgorithm, message: Buffer, mac: Buffer): Promise<boolean> {
  // A MAC of the wrong length is simply invalid (some tokens would truncate-compare otherwise).
  if (mac.length !== HMAC_BYTES[macHash(algorithm)]) return false;
  pkcs11.C_VerifyInit(session, { mechanism: HMAC_MECHANISM[algorithm] }, key);
  return verifyCall(pkcs11, session, message, mac);
}

const HMAC_BYTES: Record<HashName, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/**
 * ECDH (CKM_ECDH1_DERIVE, no KDF) with the peer's uncompressed point. The raw shared secret (the
 * x coordinate) is what AWS returns, so it is derived as a readable session object, read and
 * destroyed at once.
 */
export async function ecdh(pkcs11: Pkcs11, session: Handle, privateKey: Handle, peerPoint: Buffer, length: number): Promise<Buffer> {
  const parameter: pkcs11js.ECDH1 = { type: pkcs11js.CK_PARAMS_EC_DH, kdf: pkcs11js.CKD_NULL, publicData: peerPoint };
  const secret = await pkcs11.C_DeriveKey(session, { mechanism: pkcs11js.CKM_ECDH1_DERIVE, parameter }, privateKey, sharedSecretTemplate(length));
  try {
    const value = pkcs11.C_GetAttributeValue(session, secret, [{ type: pkcs11js.CKA_VALUE }])[0]?.value;
    if (value?.length !== length) throw new HsmError('HSM_FAILED', 'the derived secret has an unexpected length');
    return Buffer.from(value);
  } finally {
    destroyQuietly(pkcs11, session, secret);
  }
}

/** The public half of a key pair as DER SubjectPublicKeyInfo. */
export function readPublicKey(pkcs11: Pkcs11, session: Handle, publicKey: Handle, spec: AsymmetricKeySpec): Buffer {
  return spkiDer(spec, publicParts(pkcs11, session, publicKey, spec));
}

function publicParts(pkcs11: Pkcs11, session: Handle, publicKey: Handle, spec: AsymmetricKeySpec): PublicKeyParts {
  if (isRsaSpec(spec)) {
    const attrs = pkcs11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
    return { modulus: attrs[0]!.value, publicExponent: attrs[1]!.value };
  }
  const value = pkcs11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }])[0]!.value;
  const pointBytes = spec === 'ECC_NIST_EDWARDS25519' ? 32 : 1 + 2 * COORDINATE_BYTES[spec as EccSpec];
  return { point: unwrapEcPoint(value, pointBytes) };
}

/** Generates the persistent key pair; returns its handles. */
export async function generateKeyPair(
  pkcs11: Pkcs11,
  session: Handle,
  spec: AsymmetricKeySpec,
  templates: { publicKey: pkcs11js.Template; privateKey: pkcs11js.Template },
): Promise<pkcs11js.KeyPair> {
  return pkcs11.C_GenerateKeyPair(session, keyPairMechanism(spec), templates.publicKey, templates.privateKey);
}

/**
 * A data key pair for GenerateDataKeyPair: generated by the HSM as session objects, read out
 * (SPKI and PKCS#8 DER) and destroyed. The caller owns the returned private key bytes and should
 * zero them once sealed.
 */
export async function generateDataKeyPair(pkcs11: Pkcs11, session: Handle, spec: AsymmetricKeySpec): Promise<{ publicKey: Buffer; privateKey: Buffer }> {
  const pair = await generateKeyPair(pkcs11, session, spec, dataKeyPairTemplates(spec));
  const secrets: Buffer[] = [];
  try {
    const parts = publicParts(pkcs11, session, pair.publicKey, spec);
    let privateKey: Buffer;
    if (isRsaSpec(spec)) {
      const types = [pkcs11js.CKA_PRIVATE_EXPONENT, pkcs11js.CKA_PRIME_1, pkcs11js.CKA_PRIME_2, pkcs11js.CKA_EXPONENT_1, pkcs11js.CKA_EXPONENT_2, pkcs11js.CKA_COEFFICIENT];
      const values = pkcs11.C_GetAttributeValue(session, pair.privateKey, types.map((type) => ({ type }))).map((attr) => attr.value);
      secrets.push(...values);
      const [d, p, q, dp, dq, qi] = values as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
      privateKey = pkcs8Der(spec, { ...parts, rsa: { d, p, q, dp, dq, qi } });
    } else {
      const value = pkcs11.C_GetAttributeValue(session, pair.privateKey, [{ type: pkcs11js.CKA_VALUE }])[0]!.value;
      secrets.push(value);
      privateKey = pkcs8Der(spec, { ...parts, value });
    }
    return { publicKey: spkiDer(spec, parts), privateKey };
  } finally {
    for (const secret of secrets) secret.fill(0);
    destroyQuietly(pkcs11, session, pair.privateKey);
    destroyQuietly(pkcs11, session, pair.publicKey);
  }
}

/** CKA_EC_PARAMS of a spec (exported for tests that check generated objects). */
export function ecParamsOf(spec: EccSpec | 'ECC_NIST_EDWARDS25519'): Buffer {
  return EC_PARAMS[spec];
}

function destroyQuietly(pkcs11: Pkcs11, session: Handle, handle: Handle): void {
  try {
    pkcs11.C_DestroyObject(session, handle);
  } catch {
    // A session object dies with its session anyway.
  }
}
