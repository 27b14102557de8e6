// The connection state machine's rules, state by state (reference §4: which calls each state refuses).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertCanConnect,
  assertCanDisconnect,
  assertDisconnected,
  type ConnectionState,
  type CustomKeyStoreRecord,
} from '../../src/domain/custom-key-store.js';
import { KmsError } from '../../src/domain/errors.js';

const STATES: ConnectionState[] = ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'];

function store(connectionState: ConnectionState): CustomKeyStoreRecord {
  return {
    id: 'cks-0123456789abcdef0',
    name: 'n',
    type: 'AWS_CLOUDHSM',
    clusterId: 'cluster-kbExampleTwo',
    trustAnchorCertificate: 'pem',
    sealedPassword: 'sealed',
    createdAt: 0,
    connectionState,
    connectionErrorCode: null,
    wantConnected: false,
  };
}

function outcome(check: () => void): 'ok' | string {
  try {
    check();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof KmsError);
    return err.kmsName;
  }
}

test('ConnectCustomKeyStore is refused only while DISCONNECTING or FAILED', () => {
  const got = Object.fromEntries(STATES.map((s) => [s, outcome(() => assertCanConnect(store(s)))]));
  assert.deepEqual(got, {
    CONNECTED: 'ok',
    CONNECTING: 'ok',
    FAILED: 'CustomKeyStoreInvalidStateException',
    DISCONNECTED: 'ok',
    DISCONNECTING: 'CustomKeyStoreInvalidStateException',
  });
});

test('DisconnectCustomKeyStore is refused while DISCONNECTED or DISCONNECTING', () => {
  const got = Object.fromEntries(STATES.map((s) => [s, outcome(() => assertCanDisconnect(store(s)))]));
  assert.deepEqual(got, {
    CONNECTED: 'ok',
    CONNECTING: 'ok',
    FAILED: 'ok',
    DISCONNECTED: 'CustomKeyStoreInvalidStateException',
    DISCONNECTING: 'CustomKeyStoreInvalidStateException',
  });
});

test('deleting and changing the password or cluster need DISCONNECTED', () => {
  for (const s of STATES) {
    assert.equal(outcome(() => assertDisconnected(store(s), 'delete it')), s === 'DISCONNECTED' ? 'ok' : 'CustomKeyStoreInvalidStateException', s);
  }
});
