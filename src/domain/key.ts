// The KMS key as keybridge keeps it, and the rules for moving between key states.
//
// A key's metadata lives in the store; its material lives only in the HSM as a backing key object
// whose CKA_ID is `backingKeyId` (32 random bytes, hex) and whose CKA_LABEL is the key ARN. The
// backing key id doubles as AWS's `KeyMaterialId` (64 hex characters).

import { KmsError } from './errors.js';
import type { SymmetricSuite } from './symmetric-suite.js';
import type { KeySpec, KeyUsage } from './key-spec.js';

/** What the store records. `Unavailable` is never stored: see effectiveKeyState. */
/** PendingImport: a key of origin EXTERNAL whose material is not (or no longer) in the HSM. */
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport';
export type ReportedKeyState = KeyState | 'Unavailable';
export type { KeySpec, KeyUsage } from './key-spec.js';
/**
 * AWS_KMS: generated in the default key store's token. AWS_CLOUDHSM: a custom key store's cluster.
 * EXTERNAL: material imported by the customer (BYOK) into the default key store's token.
 */
export type KeyOrigin = 'AWS_KMS' | 'AWS_CLOUDHSM' | 'EXTERNAL' | 'EXTERNAL_KEY_STORE';

export interface KeyRecord {
  /** UUID, lower case; the last part of the ARN. */
  readonly keyId: string;
  readonly arn: string;
  readonly accountId: string;
  readonly region: string;
  /** Creation time, epoch milliseconds. */
  readonly createdAt: number;
  readonly description: string;
  readonly keyUsage: KeyUsage;
  readonly keySpec: KeySpec;
  readonly origin: KeyOrigin;
  readonly state: KeyState;
  /** Set only while PendingDeletion: when the sweeper may destroy the key (epoch ms). */
  readonly deletionDate: number | null;
  readonly pendingWindowDays: number | null;
  /** The key policy document, exactly as the client sent it (or the default). */
  readonly policy: string;
  /**
   * Hex of the current backing key's CKA_ID in the HSM. Empty for a key of origin EXTERNAL
   * before its first import (the id is computed from the material when it arrives).
   */
  readonly backingKeyId: string;
  /** Set for keys in a custom key store (origin AWS_CLOUDHSM). */
  readonly customKeyStoreId: string | null;
  /**
   * Asymmetric keys: the public key as DER SubjectPublicKeyInfo, base64, read from the HSM when
   * the key was created. Null for symmetric and HMAC keys.
   */
  readonly publicKey?: string | null;
  /**
   * Symmetric keys: how the current material encrypts (docs/ciphertext-format.md). Absent means
   * AES_256_GCM, which every key made before the suite existed uses.
   */
  readonly suite?: SymmetricSuite;
  /** Origin EXTERNAL_KEY_STORE: the external key's id at the store's XKS proxy (XksKeyConfiguration.Id). */
  readonly xksKeyId?: string;
}

/**
 * The state AWS reports: a key in a custom key store that is not CONNECTED is Unavailable, unless
 * it is PendingDeletion (reference §4.0). Enable/DisableKey still change the recorded state, which
 * shows again once the store is back.
 */
export function effectiveKeyState(key: KeyRecord, storeConnected: boolean): ReportedKeyState {
  if (key.customKeyStoreId !== null && !storeConnected && key.state !== 'PendingDeletion') return 'Unavailable';
  return key.state;
}

/** A key operation that needs a usable key fails this way when the key's state forbids it. */
export function assertUsableForCrypto(key: KeyRecord, storeConnected: boolean): void {
  const state = effectiveKeyState(key, storeConnected);
  if (state === 'Disabled') throw new KmsError('DisabledException', `${key.arn} is disabled.`);
  if (state === 'PendingDeletion') throw pendingDeletion(key);
  if (state === 'PendingImport') throw pendingImport(key);
  if (state === 'Unavailable') throw new KmsError('KMSInvalidStateException', `${key.arn} is unavailable.`);
}

/** Management calls (describe, tag, alias...) that AWS refuses while the key waits for deletion. */
export function assertNotPendingDeletion(key: KeyRecord): void {
  if (key.state === 'PendingDeletion') throw pendingDeletion(key);
}

/** EnableKey / DisableKey: AWS refuses both while a key waits for its material. */
export function assertNotPendingImport(key: KeyRecord): void {
  if (key.state === 'PendingImport') throw pendingImport(key);
}

function pendingImport(key: KeyRecord): KmsError {
  return new KmsError('KMSInvalidStateException', `${key.arn} is pending import.`);
}

function pendingDeletion(key: KeyRecord): KmsError {
  return new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
}

export const SYMMETRIC_ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT'] as const;

export const DEFAULT_PENDING_WINDOW_DAYS = 30;
export const MIN_PENDING_WINDOW_DAYS = 7;
export const MAX_PENDING_WINDOW_DAYS = 30;
export const MAX_TAGS_PER_KEY = 50;
export const MAX_ALIASES_PER_KEY = 50;
export const DAY_MS = 24 * 60 * 60 * 1000;
