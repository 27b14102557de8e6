// The HSM port: what operations need from the token that holds a key store's backing keys.
//
// Owned by the composition root, which opens it before serving and closes it after the HTTP server
// has drained. Every method may be called concurrently; the adapter serialises per PKCS#11 session.
// Every method throws only HsmError (below), which says what happened in HSM terms (an outcome
// code); the operations decide what the client is told (src/operations/hsm-errors.ts, one table).

import type { SymmetricSuite, SymmetricSuiteChoice } from '../domain/symmetric-suite.js';
import type { AsymmetricKeySpec, HmacSpec, KeySpec, KeyUsage, MacAlgorithm, SigningAlgorithm } from '../domain/key-spec.js';

/** A backing key object in the token: CKA_ID = id (hex), CKA_LABEL = label (the key ARN). */
export interface BackingKeyRef {
  readonly id: string;
  readonly label: string;
}

export type { SuiteSupport, SymmetricSuite, SymmetricSuiteChoice } from '../domain/symmetric-suite.js';

/** What one symmetric encryption made: for AES_256_GCM the nonce and tag, for CBC-HMAC the CBC IV and the HMAC. */
export interface GcmResult {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export interface Hsm {
  /**
   * Generates an AES-256 key inside the token as a persistent object with CKA_SENSITIVE=true,
   * CKA_EXTRACTABLE=false, CKA_ID and CKA_LABEL from `ref` (and for AES_256_CBC_HMAC_SHA_256 its
   * HMAC key beside it, both or neither). Resolves once the objects exist.
   */
  generateSymmetricKey(ref: BackingKeyRef, suite?: SymmetricSuite): Promise<void>;

  /**
   * Authenticated encryption inside the HSM under the suite the material was made with (default
   * AES_256_GCM). GCM: the IV comes from the HSM (its RNG, or its own IV generator), `aad` is
   * authenticated. CBC-HMAC: a random IV from the HSM's RNG, and the tag is the HMAC of
   * `aad ‖ iv ‖ ciphertext ‖ bit length of aad` (docs/ciphertext-format.md).
   */
  encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer, suite?: SymmetricSuite): Promise<GcmResult>;

  /**
   * Throws HsmError with code HSM_DECRYPT_FAILED when the tag does not verify (CBC-HMAC: checked
   * inside the HSM before anything is decrypted) or the plaintext's padding is wrong.
   */
  decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer, suite?: SymmetricSuite): Promise<Buffer>;

  /** The suite new symmetric material in this key store gets (configuration and token), or why none. */
  symmetricSuite(): Promise<SymmetricSuiteChoice>;

  /** `length` bytes from the HSM's random number generator. */
  random(length: number): Promise<Buffer>;

  /** Destroys the backing key object; resolves false when no such object exists. */
  destroySymmetricKey(ref: BackingKeyRef): Promise<boolean>;

  /** Every keybridge backing key object on the token (for start-up reconciliation). */
  listSymmetricKeys(): Promise<BackingKeyRef[]>;

  // --- Asymmetric, HMAC and key-agreement keys (issue #8). Key pairs are two token objects (private
  // and public) sharing the ref's CKA_ID and CKA_LABEL; HMAC keys are one secret key object.
  // destroySymmetricKey and listSymmetricKeys cover them too.

  /**
   * Why the token cannot serve keys of this spec and usage (the first missing mechanism, from
   * C_GetMechanismList / C_GetMechanismInfo, read once per token); undefined when it can.
   */
  missingMechanism(spec: KeySpec, usage: KeyUsage): Promise<string | undefined>;

  /**
   * Generates a persistent key pair: the private key sensitive and non-extractable, each object
   * allowed only what `usage` needs. Resolves the public key as DER SubjectPublicKeyInfo.
   * HSM_UNSUPPORTED when the token refuses the curve.
   */
  generateKeyPair(ref: BackingKeyRef, spec: AsymmetricKeySpec, usage: KeyUsage): Promise<Buffer>;

  /** Generates a persistent, sensitive, non-extractable HMAC key of the spec's length. */
  generateMacKey(ref: BackingKeyRef, spec: HmacSpec): Promise<void>;

  /** The public key of a key pair as DER SubjectPublicKeyInfo, read from the HSM. */
  getPublicKey(ref: BackingKeyRef, spec: AsymmetricKeySpec): Promise<Buffer>;

  /**
   * Signs with the private key: `input` is the digest (RSA, ECDSA) or the message (ED25519_SHA_512).
   * ECDSA signatures are DER. The digest is signed as given, never hashed again.
   */
  sign(ref: BackingKeyRef, algorithm: SigningAlgorithm, input: Buffer): Promise<Buffer>;

  /** Verifies with the public key object; false when the signature does not verify. */
  verify(ref: BackingKeyRef, spec: AsymmetricKeySpec, algorithm: SigningAlgorithm, input: Buffer, signature: Buffer): Promise<boolean>;

  /** RSAES-OAEP with the public key object (MGF1 over `hash`, empty label). */
  rsaEncrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', plaintext: Buffer): Promise<Buffer>;

  /** RSAES-OAEP decryption; HSM_DECRYPT_FAILED when the ciphertext does not decrypt. */
  rsaDecrypt(ref: BackingKeyRef, hash: 'sha1' | 'sha256', ciphertext: Buffer): Promise<Buffer>;

  /** HMAC of `message` with the HMAC key. */
  mac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer): Promise<Buffer>;

  /** Whether `tag` is the HMAC of `message` (compared inside the HSM). */
  verifyMac(ref: BackingKeyRef, algorithm: MacAlgorithm, message: Buffer, tag: Buffer): Promise<boolean>;

  /** ECDH with the peer's uncompressed point; the raw shared secret (x coordinate, `length` bytes). */
  deriveSharedSecret(ref: BackingKeyRef, peerPoint: Buffer, length: number): Promise<Buffer>;

  /**
   * A fresh key pair generated by the HSM as session objects, exported (public: DER SPKI, private:
   * DER PKCS#8) and destroyed: GenerateDataKeyPair returns the private key by design. The caller
   * zeroes `privateKey` when done.
   */
  generateDataKeyPair(spec: AsymmetricKeySpec): Promise<{ publicKey: Buffer; privateKey: Buffer }>;

  // --- Importing key material (BYOK, issue #14). The material arrives wrapped under an RSA key
  // pair made for one GetParametersForImport and is unwrapped inside the HSM: its plaintext never
  // exists outside the token.

  /**
   * Generates the RSA wrapping key pair of one GetParametersForImport as persistent token objects
   * (CKA_ID and CKA_LABEL from `ref`; the label is IMPORT_WRAPPING_KEY_LABEL): the private key
   * sensitive, non-extractable, usable only to unwrap. Resolves the public key as DER SPKI.
   * destroySymmetricKey(ref) destroys both objects.
   */
  generateImportWrappingKey(ref: BackingKeyRef, spec: ImportWrappingKeySpec): Promise<Buffer>;

  /**
   * Why this token cannot unwrap key material wrapped with `algorithm` inside itself (for example
   * "CKM_RSA_PKCS_OAEP with SHA-256"); undefined when it can. Learnt once per token, by probing
   * with the wrapping key `probeWith` (the one just generated).
   */
  importAlgorithmRefusal(probeWith: BackingKeyRef, algorithm: ImportWrappingAlgorithm): Promise<string | undefined>;

  /**
   * Unwraps `encryptedMaterial` with the wrapping key into the key's material: token object(s)
   * with CKA_LABEL `keyArn`, sensitive, non-extractable, allowed only what `keySpec`/`keyUsage`
   * need (a key pair also gets its public object). The material id (the objects' CKA_ID) is
   * computed inside the HSM from the material, so importing the same material into the same key
   * again yields the same id (and then nothing new is created). Throws HsmError:
   * HSM_KEY_NOT_FOUND (no such wrapping key), HSM_DECRYPT_FAILED (does not unwrap),
   * HSM_INCORRECT_KEY_MATERIAL (unwraps, but is not material of this spec: length, key type, curve
   * or modulus size), HSM_UNSUPPORTED (the token cannot import this kind of key).
   */
  importKeyMaterial(request: ImportKeyMaterialRequest): Promise<ImportedKeyMaterial>;

  /** Drains work sessions, logs out, closes the anchor session and finalises the module. */
  close(): Promise<void>;
}

/** CKA_LABEL of the RSA key pairs made for GetParametersForImport (internal: never a KMS key). */
export const IMPORT_WRAPPING_KEY_LABEL = 'keybridge:internal:import-wrap';

export type ImportWrappingKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096';

/** AWS's wrapping algorithms keybridge can serve (RSAES_PKCS1_V1_5 and SM2PKE are refused earlier). */
export type ImportWrappingAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256' | 'RSA_AES_KEY_WRAP_SHA_1' | 'RSA_AES_KEY_WRAP_SHA_256';

export interface ImportKeyMaterialRequest {
  readonly wrappingKey: BackingKeyRef;
  readonly wrappingKeySpec: ImportWrappingKeySpec;
  readonly algorithm: ImportWrappingAlgorithm;
  /** RSAES_OAEP_*: one OAEP block. RSA_AES_KEY_WRAP_*: OAEP block of an AES key ‖ RFC 5649 wrap of the material. */
  readonly encryptedMaterial: Buffer;
  /** The KMS key: its id enters the material id; its ARN is the objects' CKA_LABEL. */
  readonly keyId: string;
  readonly keyArn: string;
  readonly keySpec: KeySpec;
  readonly keyUsage: KeyUsage;
}

export interface ImportedKeyMaterial {
  /** 64 hex digits: CKA_ID of the material's object(s), deterministic per (key id, material). */
  readonly materialId: string;
  /** True when the material was already on the token under this id: nothing was created. */
  readonly alreadyPresent: boolean;
  /** Key pairs: the public key derived inside the HSM from the private key, DER SPKI. */
  readonly publicKey?: Buffer;
}

export type HsmErrorCode =
  /** The ciphertext did not decrypt (bad GCM tag, bad OAEP padding, wrong lengths). */
  | 'HSM_DECRYPT_FAILED'
  /** A signature or MAC did not verify where a call cannot answer "false". */
  | 'HSM_BAD_SIGNATURE'
  /** No key object with this id on the token. */
  | 'HSM_KEY_NOT_FOUND'
  /** No session (worker) became free in time, or the token allows no more sessions. */
  | 'HSM_BUSY'
  /** The device did not answer within the call's deadline. */
  | 'HSM_TIMEOUT'
  /** The device is gone for now (removed, not present, its client lost it): retrying may succeed. */
  | 'HSM_DEVICE_GONE'
  /** The device or its library failed (device error, session lost, library missing, closed). */
  | 'HSM_UNAVAILABLE'
  | 'HSM_LOGIN_FAILED'
  | 'HSM_TOKEN_NOT_FOUND'
  /** The token cannot do what was asked (a curve, a hash, a parameter it lacks). */
  | 'HSM_UNSUPPORTED'
  /** Imported key material unwrapped, but it is not material of the key's spec (length, type, curve, size). */
  | 'HSM_INCORRECT_KEY_MATERIAL'
  /** Anything else the token refused or failed. */
  | 'HSM_FAILED'
  /** Every member of the cluster is UNAVAILABLE: answered at once, never by waiting. */
  | 'HSM_NO_ACTIVE_MEMBER'
  /** Beyond the store's request quota or every member's concurrency limit (admission control). */
  | 'HSM_THROTTLED';

/**
 * An HSM failure, already classified by outcome. `ckr` is the PKCS#11 return value when there is
 * one; it and `cause` are for logs.
 */
export class HsmError extends Error {
  readonly code: HsmErrorCode;
  readonly ckr: number | undefined;

  constructor(code: HsmErrorCode, message: string, options?: { ckr?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HsmError';
    this.code = code;
    this.ckr = options?.ckr;
  }
}

/**
 * Uses a fixed-id internal key (a canary, the secret-sealing key, the audit signing key), making it
 * first when the HSM has none (HSM_KEY_NOT_FOUND). Nodes sharing one HSM may make it at the same
 * moment: when `make` fails because another node's object appeared since `use` looked, `use`
 * answers with that one; otherwise `make`'s error is thrown.
 */
export async function useOrMake<T>(use: () => Promise<T>, make: () => Promise<unknown>): Promise<T> {
  try {
    return await use();
  } catch (err) {
    if (!(err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND')) throw err;
  }
  try {
    await make();
  } catch (makeErr) {
    return use().catch(() => {
      throw makeErr;
    });
  }
  return use();
}
