// Key states as AWS reports them (Unavailable for keys of a disconnected custom key store) and the
// errors cryptographic and management calls get for each state.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KmsError, type KmsErrorName } from '../../src/domain/errors.js';
import {
  assertNotPendingDeletion,
  assertUsableForCrypto,
  effectiveKeyState,
  type KeyRecord,
  type KeyState,
  type ReportedKeyState,
} from '../../src/domain/key.js';

const ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-2:111122223333:key/${ID}`;
const STATES: KeyState[] = ['Enabled', 'Disabled', 'PendingDeletion'];

function key(state: KeyState, customKeyStoreId: string | null): KeyRecord {
  return {
    keyId: ID,
    arn: ARN,
    accountId: '111122223333',
    region: 'us-east-2',
    createdAt: 0,
    description: '',
    keyUsage: 'ENCRYPT_DECRYPT',
    keySpec: 'SYMMETRIC_DEFAULT',
    origin: customKeyStoreId === null ? 'AWS_KMS' : 'AWS_CLOUDHSM',
    state,
    deletionDate: state === 'PendingDeletion' ? 1_000 : null,
    pendingWindowDays: state === 'PendingDeletion' ? 7 : null,
    policy: '{}',
    backingKeyId: 'ab'.repeat(32),
    customKeyStoreId,
  };
}

function outcome(check: () => void): 'ok' | { kmsName: KmsErrorName; message: string } {
  try {
    check();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof KmsError, String(err));
    assert.equal(err.status, 400);
    return { kmsName: err.kmsName, message: err.message };
  }
}

test('keys of the default key store report their recorded state, whatever the connection flag', () => {
  for (const state of STATES) {
    for (const connected of [true, false]) {
      assert.equal(effectiveKeyState(key(state, null), connected), state, `${state} connected=${connected}`);
    }
  }
});

test('keys of a connected custom key store report their recorded state', () => {
  for (const state of STATES) {
    assert.equal(effectiveKeyState(key(state, 'cks-0123456789abcdef0'), true), state);
  }
});

test('keys of a disconnected custom key store are Unavailable unless PendingDeletion', () => {
  const expected: Record<KeyState, ReportedKeyState> = {
    Enabled: 'Unavailable',
    Disabled: 'Unavailable',
    PendingDeletion: 'PendingDeletion',
    PendingImport: 'Unavailable',
  };
  for (const state of STATES) {
    assert.equal(effectiveKeyState(key(state, 'cks-0123456789abcdef0'), false), expected[state], state);
  }
});

test('assertUsableForCrypto: an Enabled key is usable', () => {
  assert.equal(outcome(() => assertUsableForCrypto(key('Enabled', null), false)), 'ok');
  assert.equal(outcome(() => assertUsableForCrypto(key('Enabled', 'cks-0123456789abcdef0'), true)), 'ok');
});

test('assertUsableForCrypto: Disabled → DisabledException "<arn> is disabled."', () => {
  const expected = { kmsName: 'DisabledException', message: `${ARN} is disabled.` };
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('Disabled', null), true)), expected);
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('Disabled', 'cks-0123456789abcdef0'), true)), expected);
});

test('assertUsableForCrypto: PendingDeletion → KMSInvalidStateException "<arn> is pending deletion."', () => {
  const expected = { kmsName: 'KMSInvalidStateException', message: `${ARN} is pending deletion.` };
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('PendingDeletion', null), true)), expected);
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('PendingDeletion', 'cks-0123456789abcdef0'), true)), expected);
  // A pending-deletion key of a disconnected store is still reported as pending deletion.
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('PendingDeletion', 'cks-0123456789abcdef0'), false)), expected);
});

test('assertUsableForCrypto: Unavailable → KMSInvalidStateException "<arn> is unavailable."', () => {
  const expected = { kmsName: 'KMSInvalidStateException', message: `${ARN} is unavailable.` };
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('Enabled', 'cks-0123456789abcdef0'), false)), expected);
  // Unavailable wins over the recorded Disabled while the store is down.
  assert.deepEqual(outcome(() => assertUsableForCrypto(key('Disabled', 'cks-0123456789abcdef0'), false)), expected);
});

test('assertNotPendingDeletion refuses only PendingDeletion, whatever the store', () => {
  assert.equal(outcome(() => assertNotPendingDeletion(key('Enabled', null))), 'ok');
  assert.equal(outcome(() => assertNotPendingDeletion(key('Disabled', null))), 'ok');
  assert.equal(outcome(() => assertNotPendingDeletion(key('Enabled', 'cks-0123456789abcdef0'))), 'ok');
  assert.deepEqual(outcome(() => assertNotPendingDeletion(key('PendingDeletion', null))), {
    kmsName: 'KMSInvalidStateException',
    message: `${ARN} is pending deletion.`,
  });
});
