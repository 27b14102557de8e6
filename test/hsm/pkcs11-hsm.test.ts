import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { CKR } from '../../src/hsm/pkcs11/ckr.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { acquireModule, describeModule, type ModuleLease } from '../../src/hsm/pkcs11/module.js';
import type { VendorProfile } from '../../src/hsm/vendor-profile.js';
import { kmsErrorNameOf } from '../../src/operations/hsm-errors.js';
import { HsmError, type BackingKeyRef, type HsmErrorCode } from '../../src/ports/hsm.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
let profile: VendorProfile;
let hsm: Pkcs11Hsm;
let key: BackingKeyRef;

before(async () => {
  fx = await createSoftHsm();
  profile = loadVendorProfile('softhsm2');
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile, maxSessions: 4 });
  key = newBackingKeyRef();
  await hsm.generateSymmetricKey(key);
});

after(async () => {
  try {
    await hsm.close();
    assert.equal(describeModule(fx.modulePath)?.refs, 0, 'every lease must be released');
  } finally {
    await fx.cleanup();
  }
});

function isHsmError(code: HsmErrorCode, kms?: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof HsmError, `expected HsmError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (kms !== undefined) assert.equal(kmsErrorNameOf(err), kms);
    return true;
  };
}

/** A session of our own on the token (login state is shared with the pool's anchor). */
function withRawSession<T>(fn: (pkcs11: pkcs11js.PKCS11, session: Buffer, lease: ModuleLease) => T): T {
  const lease = acquireModule(fx.modulePath);
  const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label: fx.tokenLabel }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  try {
    return fn(lease.pkcs11, session, lease);
  } finally {
    lease.pkcs11.C_CloseSession(session);
    lease.release();
  }
}

function findById(pkcs11: pkcs11js.PKCS11, session: Buffer, ref: BackingKeyRef): Buffer[] {
  pkcs11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') },
  ]);
  try {
    return pkcs11.C_FindObjects(session, 10);
  } finally {
    pkcs11.C_FindObjectsFinal(session);
  }
}

test('the generated key is a sensitive, never-extractable token object whose value cannot be read', () => {
  withRawSession((pkcs11, session) => {
    const [handle, ...more] = findById(pkcs11, session, key);
    assert.ok(handle !== undefined);
    assert.equal(more.length, 0);
    const flags = [
      ['CKA_SENSITIVE', pkcs11js.CKA_SENSITIVE, true],
      ['CKA_EXTRACTABLE', pkcs11js.CKA_EXTRACTABLE, false],
      ['CKA_NEVER_EXTRACTABLE', pkcs11js.CKA_NEVER_EXTRACTABLE, true],
      ['CKA_TOKEN', pkcs11js.CKA_TOKEN, true],
      ['CKA_PRIVATE', pkcs11js.CKA_PRIVATE, true],
      ['CKA_ENCRYPT', pkcs11js.CKA_ENCRYPT, true],
      ['CKA_DECRYPT', pkcs11js.CKA_DECRYPT, true],
      ['CKA_WRAP', pkcs11js.CKA_WRAP, false],
      ['CKA_UNWRAP', pkcs11js.CKA_UNWRAP, false],
    ] as const;
    const values = pkcs11.C_GetAttributeValue(session, handle, flags.map(([, type]) => ({ type })));
    flags.forEach(([name, , expected], at) => assert.equal(values[at]!.value[0] === 1, expected, name));
    const [label, keyType] = pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_KEY_TYPE }]);
    assert.equal(label!.value.toString('utf8'), key.label);
    assert.equal(keyType!.value.readUInt32LE(), pkcs11js.CKK_AES);
    assert.throws(
      () => pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]),
      (err: unknown) => err instanceof pkcs11js.Pkcs11Error && err.code === CKR.CKR_ATTRIBUTE_SENSITIVE,
    );
  });
});

test('generating a second key with the same id is refused', async () => {
  await assert.rejects(hsm.generateSymmetricKey({ id: key.id, label: `${key.label}-2` }), isHsmError('HSM_FAILED'));
});

test('encrypt/decrypt round trip: empty AAD', async () => {
  const plaintext = Buffer.from('attack at dawn');
  const result = await hsm.encrypt(key, plaintext, Buffer.alloc(0));
  assert.equal(result.iv.length, 12);
  assert.equal(result.tag.length, 16);
  assert.equal(result.ciphertext.length, plaintext.length);
  assert.notDeepEqual(result.ciphertext, plaintext);
  assert.deepEqual(await hsm.decrypt(key, result.iv, result.ciphertext, result.tag, Buffer.alloc(0)), plaintext);
});

test('encrypt/decrypt round trip: 4096 bytes with AAD', async () => {
  const plaintext = randomBytes(4096);
  const aad = Buffer.from('{"purpose":"test"}');
  const result = await hsm.encrypt(key, plaintext, aad);
  assert.equal(result.ciphertext.length, 4096);
  assert.deepEqual(await hsm.decrypt(key, result.iv, result.ciphertext, result.tag, aad), plaintext);
});

test('encrypt/decrypt round trip: empty plaintext', async () => {
  const result = await hsm.encrypt(key, Buffer.alloc(0), Buffer.from('aad'));
  assert.equal(result.ciphertext.length, 0);
  assert.equal(result.tag.length, 16);
  assert.deepEqual(await hsm.decrypt(key, result.iv, result.ciphertext, result.tag, Buffer.from('aad')), Buffer.alloc(0));
});

test('every encryption uses a fresh IV', async () => {
  const plaintext = Buffer.from('same input');
  const a = await hsm.encrypt(key, plaintext, Buffer.alloc(0));
  const b = await hsm.encrypt(key, plaintext, Buffer.alloc(0));
  assert.notDeepEqual(a.iv, b.iv);
  assert.notDeepEqual(a.ciphertext, b.ciphertext);
});

test('tampered tag, ciphertext, AAD or IV fail with HSM_DECRYPT_FAILED / InvalidCiphertextException', async () => {
  const plaintext = randomBytes(64);
  const aad = Buffer.from('context');
  const { iv, ciphertext, tag } = await hsm.encrypt(key, plaintext, aad);
  const flip = (buf: Buffer, at: number): Buffer => {
    const copy = Buffer.from(buf);
    copy[at] = copy[at]! ^ 0x01;
    return copy;
  };
  const invalid = isHsmError('HSM_DECRYPT_FAILED', 'InvalidCiphertextException');
  await assert.rejects(hsm.decrypt(key, iv, ciphertext, flip(tag, 15), aad), (err: unknown) => {
    invalid(err);
    // SoftHSM2 2.6.1 reports a bad GCM tag as CKR_GENERAL_ERROR.
    assert.equal((err as HsmError).ckr, CKR.CKR_GENERAL_ERROR);
    return true;
  });
  await assert.rejects(hsm.decrypt(key, iv, flip(ciphertext, 0), tag, aad), invalid);
  await assert.rejects(hsm.decrypt(key, iv, ciphertext, tag, flip(aad, 3)), invalid);
  await assert.rejects(hsm.decrypt(key, iv, ciphertext, tag, Buffer.alloc(0)), invalid);
  await assert.rejects(hsm.decrypt(key, flip(iv, 0), ciphertext, tag, aad), invalid);
  await assert.rejects(hsm.decrypt(key, iv, ciphertext, tag.subarray(0, 12), aad), invalid);
  // The sessions that saw the failures are still good.
  assert.deepEqual(await hsm.decrypt(key, iv, ciphertext, tag, aad), plaintext);
});

test('a ciphertext does not decrypt under another key', async () => {
  const other = newBackingKeyRef();
  await hsm.generateSymmetricKey(other);
  const { iv, ciphertext, tag } = await hsm.encrypt(key, Buffer.from('secret'), Buffer.alloc(0));
  await assert.rejects(hsm.decrypt(other, iv, ciphertext, tag, Buffer.alloc(0)), isHsmError('HSM_DECRYPT_FAILED'));
  assert.equal(await hsm.destroySymmetricKey(other), true);
});

test('200 concurrent encryptions over 4 sessions all succeed and round-trip', async () => {
  const inputs = Array.from({ length: 200 }, (_, i) => randomBytes(32 + (i % 64)));
  const results = await Promise.all(inputs.map((plaintext) => hsm.encrypt(key, plaintext, Buffer.from('ctx'))));
  assert.ok(hsm.stats().open <= 4);
  const decrypted = await Promise.all(results.map((r) => hsm.decrypt(key, r.iv, r.ciphertext, r.tag, Buffer.from('ctx'))));
  decrypted.forEach((plaintext, i) => assert.deepEqual(plaintext, inputs[i]));
  assert.equal(new Set(results.map((r) => r.iv.toString('hex'))).size, 200, 'IVs must not repeat');
  const stats = hsm.stats();
  assert.equal(stats.leased, 0);
  assert.equal(stats.waiting, 0);
});

test('random(n) returns n bytes from the token, different each time', async () => {
  const a = await hsm.random(1024);
  const b = await hsm.random(1024);
  assert.equal(a.length, 1024);
  assert.equal(b.length, 1024);
  assert.notDeepEqual(a, b);
  assert.equal((await hsm.random(0)).length, 0);
  await assert.rejects(hsm.random(-1), isHsmError('HSM_FAILED'));
});

test('listSymmetricKeys returns the generated keys and skips objects that are not backing keys', async () => {
  const extra = newBackingKeyRef();
  await hsm.generateSymmetricKey(extra);
  // A secret key keybridge did not make: right id size, wrong label.
  withRawSession((pkcs11, session) => {
    pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_ID, value: randomBytes(32) },
      { type: pkcs11js.CKA_LABEL, value: 'someone-else' },
    ]);
  });
  const listed = await hsm.listSymmetricKeys();
  const ids = new Set(listed.map((ref) => ref.id));
  assert.ok(ids.has(key.id));
  assert.ok(ids.has(extra.id));
  assert.deepEqual(listed.find((ref) => ref.id === extra.id), extra);
  assert.ok(listed.every((ref) => ref.label.startsWith('arn:') && ref.id.length === 64));
  await hsm.destroySymmetricKey(extra);
});

test('destroy, then encrypt fails with HSM_KEY_NOT_FOUND; destroying again returns false', async () => {
  const doomed = newBackingKeyRef();
  await hsm.generateSymmetricKey(doomed);
  await hsm.encrypt(doomed, Buffer.from('warm the handle cache'), Buffer.alloc(0));
  // The label must match too: a wrong pairing destroys nothing.
  assert.equal(await hsm.destroySymmetricKey({ id: doomed.id, label: key.label }), false);
  assert.equal(await hsm.destroySymmetricKey(doomed), true);
  await assert.rejects(hsm.encrypt(doomed, Buffer.from('x'), Buffer.alloc(0)), isHsmError('HSM_KEY_NOT_FOUND', 'KMSInternalException'));
  assert.equal(await hsm.destroySymmetricKey(doomed), false);
  assert.ok(!(await hsm.listSymmetricKeys()).some((ref) => ref.id === doomed.id));
});

test('a key that never existed is HSM_KEY_NOT_FOUND; a malformed id is HSM_FAILED', async () => {
  await assert.rejects(hsm.encrypt(newBackingKeyRef(), Buffer.from('x'), Buffer.alloc(0)), isHsmError('HSM_KEY_NOT_FOUND'));
  await assert.rejects(hsm.encrypt({ id: 'zz', label: key.label }, Buffer.from('x'), Buffer.alloc(0)), isHsmError('HSM_FAILED'));
});

test('a wrong PIN while the token is logged in by this process is still HSM_LOGIN_FAILED', async () => {
  // C_Login would answer CKR_USER_ALREADY_LOGGED_IN without looking at the PIN.
  const wrongPin = `${fx.userPin}-wrong`;
  const refsBefore = describeModule(fx.modulePath)?.refs;
  await assert.rejects(Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: wrongPin, profile }), (err: unknown) => {
    isHsmError('HSM_LOGIN_FAILED')(err);
    assert.ok(!(err as HsmError).message.includes(wrongPin));
    return true;
  });
  assert.equal(describeModule(fx.modulePath)?.refs, refsBefore);
  // The failed login must not have disturbed the open instance.
  await hsm.encrypt(key, Buffer.from('still fine'), Buffer.alloc(0));
});

test('an unknown token label is HSM_TOKEN_NOT_FOUND', async () => {
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: 'no-such-token', pin: fx.userPin, profile }),
    isHsmError('HSM_TOKEN_NOT_FOUND'),
  );
});

test('a missing library is HSM_UNAVAILABLE', async () => {
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath: join(fx.dir, 'missing.so'), tokenLabel: fx.tokenLabel, pin: fx.userPin, profile }),
    isHsmError('HSM_UNAVAILABLE'),
  );
});

test('a profile naming an unknown CKR is refused at open', async () => {
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: { ...profile, badTagCkrs: ['CKR_NOPE'] } }),
    isHsmError('HSM_FAILED'),
  );
});

test('a second instance on the same token shares the login; closing it keeps the first logged in', async () => {
  const second = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile, maxSessions: 1 });
  const sealed = await second.encrypt(key, Buffer.from('shared'), Buffer.alloc(0));
  await second.close();
  assert.deepEqual(await hsm.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0)), Buffer.from('shared'));
  assert.equal(hsm.stats().generation, 0, 'closing the second instance must not have logged us out');
});

test('close() then open again: keys persist, the closed instance refuses work, a wrong PIN reaches the token', async () => {
  const local = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile, maxSessions: 2 });
  const sealed = await local.encrypt(key, Buffer.from('across reopen'), Buffer.alloc(0));
  await local.close();
  await local.close(); // idempotent
  await assert.rejects(local.encrypt(key, Buffer.from('x'), Buffer.alloc(0)), isHsmError('HSM_UNAVAILABLE'));
  // Close the long-lived instance too, so the library really is finalized and initialised again.
  await hsm.close();
  assert.deepEqual(describeModule(fx.modulePath), { refs: 0, initializedByUs: false });
  // Nothing logged in now, so this wrong PIN reaches the token.
  const wrongPin = `${fx.userPin}-wrong`;
  await assert.rejects(Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: wrongPin, profile }), (err: unknown) => {
    isHsmError('HSM_LOGIN_FAILED', 'KMSInternalException')(err);
    assert.equal((err as HsmError).ckr, CKR.CKR_PIN_INCORRECT);
    assert.ok(!(err as HsmError).message.includes(wrongPin));
    assert.ok(!String((err as HsmError).stack).includes(wrongPin));
    return true;
  });
  assert.deepEqual(describeModule(fx.modulePath), { refs: 0, initializedByUs: false });
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile, maxSessions: 4 });
  assert.deepEqual(await hsm.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0)), Buffer.from('across reopen'));
});
