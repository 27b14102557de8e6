// The HSM port: what operations need from the token that holds a key store's backing keys.
//
// Owned by the composition root, which opens it before serving and closes it after the HTTP server
// has drained. Every method may be called concurrently; the adapter serialises per PKCS#11 session.
// Every method throws only HsmError (below); the `kms` field says what the client should see.

import type { KmsErrorName } from '../domain/errors.js';

/** A backing key object in the token: CKA_ID = id (hex), CKA_LABEL = label (the key ARN). */
export interface BackingKeyRef {
  readonly id: string;
  readonly label: string;
}

export interface GcmResult {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export interface Hsm {
  /**
   * Generates an AES-256 key inside the token as a persistent object with CKA_SENSITIVE=true,
   * CKA_EXTRACTABLE=false, CKA_ID and CKA_LABEL from `ref`. Resolves once the object exists.
   */
  generateSymmetricKey(ref: BackingKeyRef): Promise<void>;

  /** AES-256-GCM inside the HSM. The IV comes from the HSM (its RNG, or its own IV generator). */
  encrypt(ref: BackingKeyRef, plaintext: Buffer, aad: Buffer): Promise<GcmResult>;

  /** Throws HsmError with code HSM_DECRYPT_FAILED when the tag does not verify. */
  decrypt(ref: BackingKeyRef, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer): Promise<Buffer>;

  /** `length` bytes from the HSM's random number generator. */
  random(length: number): Promise<Buffer>;

  /** Destroys the backing key object; resolves false when no such object exists. */
  destroySymmetricKey(ref: BackingKeyRef): Promise<boolean>;

  /** Every keybridge backing key object on the token (for start-up reconciliation). */
  listSymmetricKeys(): Promise<BackingKeyRef[]>;

  /** Drains work sessions, logs out, closes the anchor session and finalises the module. */
  close(): Promise<void>;
}

export type HsmErrorCode =
  | 'HSM_DECRYPT_FAILED'
  | 'HSM_KEY_NOT_FOUND'
  | 'HSM_BUSY'
  | 'HSM_UNAVAILABLE'
  | 'HSM_LOGIN_FAILED'
  | 'HSM_TOKEN_NOT_FOUND'
  | 'HSM_FAILED';

/**
 * An HSM failure, already classified. `ckr` is the PKCS#11 return value when there is one; it and
 * `cause` are for logs. `kms` is the error the client receives.
 */
export class HsmError extends Error {
  readonly code: HsmErrorCode;
  readonly kms: KmsErrorName;
  readonly ckr: number | undefined;

  constructor(code: HsmErrorCode, message: string, kms: KmsErrorName, options?: { ckr?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HsmError';
    this.code = code;
    this.kms = kms;
    this.ckr = options?.ckr;
  }
}
