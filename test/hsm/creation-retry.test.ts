// Token-object creations that SoftHSM2 2.6.1 fails now and then although it made the object
// (src/hsm/pkcs11/creation-retry.ts), played by the fault-injecting module's `after` rule on a real
// SoftHSM2 token: the call is forwarded, the object is made, and the caller gets CKR_GENERAL_ERROR.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { ckrCodes } from '../../src/hsm/pkcs11/ckr.js';
import { CREATION_ATTEMPTS, retryingObjectCreation } from '../../src/hsm/pkcs11/creation-retry.js';
import { backingKeyId } from '../../src/hsm/pkcs11/key-templates.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import type { VendorProfile } from '../../src/hsm/vendor-profile.js';
import { HsmError, type BackingKeyRef } from '../../src/ports/hsm.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { findObjects, withRawSession } from '../support/raw-session.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

const AAD = Buffer.from('creation-retry');

let fx: SoftHsmFixture;
let dir: string;
let faults: FaultController;
let modulePath: string;
let profile: VendorProfile;
let hsm: Pkcs11Hsm;

before(async () => {
  fx = await createSoftHsm();
  dir = mkdtempSync(join(tmpdir(), 'keybridge-creation-retry-'));
  faults = new FaultController(join(dir, 'faults'));
  faults.clear();
  Object.assign(process.env, faultyEnv(faults.controlFile, fx.modulePath));
  modulePath = await buildFaultyPkcs11();
  profile = loadVendorProfile('softhsm2');
  hsm = await open(profile);
});

after(async () => {
  faults?.clear();
  await hsm?.close();
  await fx?.cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function open(withProfile: VendorProfile): Promise<Pkcs11Hsm> {
  return Pkcs11Hsm.open({ modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: withProfile, maxSessions: 2, callTimeoutMs: 5_000 });
}

/** The token's objects under `ref`'s CKA_ID, per class. */
function objectsOf(ref: BackingKeyRef): { secret: number; public: number; private: number } {
  return withRawSession(modulePath, fx.tokenLabel, (pkcs11, session) => {
    const count = (objectClass: number) => findObjects(pkcs11, session, [{ type: pkcs11js.CKA_ID, value: backingKeyId(ref) }, { type: pkcs11js.CKA_CLASS, value: objectClass }]).length;
    return { secret: count(pkcs11js.CKO_SECRET_KEY), public: count(pkcs11js.CKO_PUBLIC_KEY), private: count(pkcs11js.CKO_PRIVATE_KEY) };
  });
}

test('the softhsm2 profile names the failures a creation is tried again for', () => {
  assert.deepEqual(profile.retryObjectCreationOn, ['CKR_GENERAL_ERROR', 'CKR_TEMPLATE_INCONSISTENT']);
});

test('a key the token made but reported as failed: what it left is removed, the key made again, one object under its id', async () => {
  const ref = newBackingKeyRef();
  await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKey'], fail: 'CKR_GENERAL_ERROR', after: true, count: 1 }]);
  try {
    await hsm.generateSymmetricKey(ref);
  } finally {
    await faults.heal();
  }
  assert.deepEqual(objectsOf(ref), { secret: 1, public: 0, private: 0 });
  const sealed = await hsm.encrypt(ref, Buffer.from('made on the second attempt'), AAD);
  assert.equal((await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, AAD)).toString(), 'made on the second attempt');
});

test('a key pair: both halves the failed call made are removed, then one pair is made', async () => {
  const ref = newBackingKeyRef();
  await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKeyPair'], fail: 'CKR_GENERAL_ERROR', after: true, count: 1 }]);
  try {
    await hsm.generateKeyPair(ref, 'ECC_NIST_P256', 'SIGN_VERIFY');
  } finally {
    await faults.heal();
  }
  assert.deepEqual(objectsOf(ref), { secret: 0, public: 1, private: 1 });
  const signature = await hsm.sign(ref, 'ECDSA_SHA_256', Buffer.from('digest or message'));
  assert.equal(await hsm.verify(ref, 'ECC_NIST_P256', 'ECDSA_SHA_256', Buffer.from('digest or message'), signature), true);
});

test(`a device that fails every attempt: the error after ${CREATION_ATTEMPTS} attempts, and nothing left under the id`, async () => {
  const ref = newBackingKeyRef();
  await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKey'], fail: 'CKR_GENERAL_ERROR', after: true }]);
  try {
    await assert.rejects(hsm.generateSymmetricKey(ref), (err: unknown) => err instanceof HsmError && err.ckr === pkcs11js.CKR_GENERAL_ERROR);
  } finally {
    await faults.heal();
  }
  assert.deepEqual(objectsOf(ref), { secret: 0, public: 0, private: 0 });
});

test('other failures are not retried, and a profile that names none gets the device as it is (its leftover object included)', async () => {
  const refused = newBackingKeyRef();
  await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKey'], fail: 'CKR_DEVICE_MEMORY', count: 1 }]);
  try {
    // Retried, the second call would have succeeded: the failure shows it was made once.
    await assert.rejects(hsm.generateSymmetricKey(refused), (err: unknown) => err instanceof HsmError && err.ckr === pkcs11js.CKR_DEVICE_MEMORY);
  } finally {
    await faults.heal();
  }
  const plain = await open({ ...profile, name: 'softhsm2-without-retry', retryObjectCreationOn: undefined });
  const ref = newBackingKeyRef();
  try {
    await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKey'], fail: 'CKR_GENERAL_ERROR', after: true, count: 1 }]);
    await assert.rejects(plain.generateSymmetricKey(ref), (err: unknown) => err instanceof HsmError && err.ckr === pkcs11js.CKR_GENERAL_ERROR);
    assert.deepEqual(objectsOf(ref), { secret: 1, public: 0, private: 0 }, 'the `after` rule plays SoftHSM2: the failed call made the object');
  } finally {
    await faults.heal();
    await plain.close();
  }
});

test('objects that were under the id before the call are never removed', async () => {
  const ref = newBackingKeyRef();
  const generate = (pkcs11: pkcs11js.PKCS11, session: Buffer, label: string) =>
    pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_ID, value: backingKeyId(ref) },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
  withRawSession(modulePath, fx.tokenLabel, (pkcs11, session) => generate(pkcs11, session, 'there before'));
  await faults.apply([{ label: fx.tokenLabel, scope: ['C_GenerateKey'], fail: 'CKR_GENERAL_ERROR', after: true, count: 1 }]);
  try {
    withRawSession(modulePath, fx.tokenLabel, (pkcs11, session) => {
      generate(retryingObjectCreation(pkcs11, ckrCodes(['CKR_GENERAL_ERROR'])), session, 'made by the retry');
      const under = findObjects(pkcs11, session, [{ type: pkcs11js.CKA_ID, value: backingKeyId(ref) }]);
      const labels = under.map((handle) => pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }])[0]!.value!.toString()).sort();
      for (const handle of under) pkcs11.C_DestroyObject(session, handle);
      // The failed attempt's object was removed, the one made before kept, and the retry made one.
      assert.deepEqual(labels, ['made by the retry', 'there before']);
    });
  } finally {
    await faults.heal();
  }
});
