import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { CKR } from '../../src/hsm/pkcs11/ckr.js';
import { acquireModule, describeModule, tokenText } from '../../src/hsm/pkcs11/module.js';
import { HsmError } from '../../src/ports/hsm.js';
import { createSoftHsm, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
before(async () => {
  fx = await createSoftHsm();
});
after(async () => {
  await fx.cleanup();
});

test('one initialisation shared by every lease; finalized with the last release, once', () => {
  const first = acquireModule(fx.modulePath);
  const second = acquireModule(fx.modulePath);
  assert.equal(first.pkcs11, second.pkcs11);
  assert.deepEqual(describeModule(fx.modulePath), { refs: 2, initializedByUs: true });
  first.release();
  first.release(); // idempotent: must not drop the other user's reference
  assert.deepEqual(describeModule(fx.modulePath), { refs: 1, initializedByUs: true });
  assert.ok(second.pkcs11.C_GetSlotList(true).length > 0);
  second.release();
  assert.deepEqual(describeModule(fx.modulePath), { refs: 0, initializedByUs: false });
  assert.throws(
    () => second.pkcs11.C_GetSlotList(true),
    (err: unknown) => err instanceof pkcs11js.Pkcs11Error && err.code === CKR.CKR_CRYPTOKI_NOT_INITIALIZED,
  );
});

test('a library initialised by somebody else is used but never finalized by us', () => {
  const raw = new pkcs11js.PKCS11();
  raw.load(fx.modulePath);
  raw.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  try {
    const lease = acquireModule(fx.modulePath);
    assert.equal(describeModule(fx.modulePath)?.initializedByUs, false);
    lease.release();
    assert.ok(raw.C_GetSlotList(true).length > 0, 'the other owner must still be initialised');
  } finally {
    raw.C_Finalize();
  }
});

test('a symlinked path shares the registry entry of the real library', async () => {
  const link = join(fx.dir, 'libsofthsm2-link.so');
  await symlink(fx.modulePath, link);
  const a = acquireModule(fx.modulePath);
  const b = acquireModule(link);
  try {
    assert.equal(a.pkcs11, b.pkcs11);
    assert.equal(describeModule(link)?.refs, 2);
  } finally {
    b.release();
    a.release();
  }
});

test('finds the token by label and by serial, and only initialised tokens', () => {
  const lease = acquireModule(fx.modulePath);
  try {
    const slot = lease.findSlot({ label: fx.tokenLabel });
    const serial = tokenText(lease.pkcs11.C_GetTokenInfo(slot).serialNumber);
    assert.deepEqual(lease.findSlot({ serial }), slot);
    assert.deepEqual(lease.findSlot({ label: fx.tokenLabel, serial }), slot);
    assert.throws(() => lease.findSlot({ label: 'no-such-token' }), (err: unknown) => err instanceof HsmError && err.code === 'HSM_TOKEN_NOT_FOUND');
    assert.throws(() => lease.findSlot({ label: fx.tokenLabel, serial: '0000' }), (err: unknown) => err instanceof HsmError && err.code === 'HSM_TOKEN_NOT_FOUND');
    // SoftHSM2 always offers one free slot, and it is never matched by label.
    assert.equal(lease.freeSlots().length, 1);
    assert.equal(lease.matchingSlots({ label: '' }).length, 0);
  } finally {
    lease.release();
  }
});

test('a missing library is HSM_UNAVAILABLE and leaves nothing registered', () => {
  const path = join(fx.dir, 'no-such-library.so');
  assert.throws(() => acquireModule(path), (err: unknown) => err instanceof HsmError && err.code === 'HSM_UNAVAILABLE');
  assert.equal(describeModule(path), undefined);
});
