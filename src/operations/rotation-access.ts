// What the five rotation operations share: which keys can rotate, and the key-state rules.
//
// Symmetric encryption keys rotate — in the default key store and, beyond AWS (which supports
// neither), in custom key stores too, since keybridge holds their material in HSMs it controls.
// Asymmetric and HMAC keys cannot (UnsupportedOperationException, as AWS).

import { KmsError } from '../domain/errors.js';
import { effectiveKeyState, type KeyRecord } from '../domain/key.js';
import type { OperationDeps } from './operation.js';

export const MIN_ROTATION_PERIOD_DAYS = 90;
export const MAX_ROTATION_PERIOD_DAYS = 2560;
export const DEFAULT_ROTATION_PERIOD_DAYS = 365;
/** RotateKeyOnDemand calls per key when the configuration does not say (AWS's current quota). */
export const DEFAULT_MAX_ON_DEMAND_ROTATIONS = 25;
/** RotateKeyOnDemand refuses while an automatic rotation is due this soon (AWS: 20 minutes). */
export const AUTOMATIC_ROTATION_GUARD_MS = 20 * 60 * 1000;

/** UnsupportedOperationException for a key whose material cannot rotate. */
export function assertRotatable(key: KeyRecord): void {
  if (key.origin === 'EXTERNAL_KEY_STORE') {
    throw new KmsError('UnsupportedOperationException', `${key.arn} origin is EXTERNAL_KEY_STORE which is not valid for this operation: a key in an external key store is rotated in its external key manager.`);
  }
  if (key.origin === 'EXTERNAL') {
    throw new KmsError('UnsupportedOperationException', `${key.arn} origin is EXTERNAL which is not valid for this operation: keybridge does not rotate keys with imported key material.`);
  }
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('UnsupportedOperationException', `${key.arn} has key spec ${key.keySpec}, which does not support key rotation; only symmetric encryption keys do.`);
  }
}

/**
 * The key-state rules of Enable/DisableKeyRotation and RotateKeyOnDemand: a disabled key is
 * DisabledException, a key pending deletion KMSInvalidStateException. With `needsHsm` (an on-demand
 * rotation makes material now), a key whose custom key store is not connected is
 * KMSInvalidStateException too ("unavailable").
 */
export function assertRotationState(deps: OperationDeps, key: KeyRecord, needsHsm: boolean): void {
  const state = effectiveKeyState(key, deps.keyStores.isConnected(key.customKeyStoreId));
  if (key.state === 'Disabled') throw new KmsError('DisabledException', `${key.arn} is disabled.`);
  if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  if (needsHsm && state === 'Unavailable') throw new KmsError('KMSInvalidStateException', `${key.arn} is unavailable.`);
}
