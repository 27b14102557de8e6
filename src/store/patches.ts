// Patches as both SQL stores apply them: `undefined` means "leave as is"; `null` is a value (it clears).

import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import type { KeyRecord } from '../domain/key.js';
import type { CustomKeyStorePatch, KeyPatch } from '../ports/store.js';

const pick = <T>(next: T | undefined, cur: T): T => (next === undefined ? cur : next);

export function applyKeyPatch(current: KeyRecord, patch: KeyPatch): KeyRecord {
  return {
    ...current,
    state: pick(patch.state, current.state),
    description: pick(patch.description, current.description),
    deletionDate: pick(patch.deletionDate, current.deletionDate),
    pendingWindowDays: pick(patch.pendingWindowDays, current.pendingWindowDays),
    policy: pick(patch.policy, current.policy),
  };
}

export function applyCustomKeyStorePatch(current: CustomKeyStoreRecord, patch: CustomKeyStorePatch): CustomKeyStoreRecord {
  return {
    ...current,
    name: pick(patch.name, current.name),
    clusterId: pick(patch.clusterId, current.clusterId),
    sealedPassword: pick(patch.sealedPassword, current.sealedPassword),
    connectionState: pick(patch.connectionState, current.connectionState),
    connectionErrorCode: pick(patch.connectionErrorCode, current.connectionErrorCode),
    wantConnected: pick(patch.wantConnected, current.wantConnected),
    ...((patch.xksProxy ?? current.xksProxy) === undefined ? {} : { xksProxy: patch.xksProxy ?? current.xksProxy! }),
  };
}
