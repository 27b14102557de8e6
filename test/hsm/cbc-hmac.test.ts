// The AES_256_CBC_HMAC_SHA_256 suite on SoftHSM2 (docs/ciphertext-format.md): the two objects a
// material is made of and what each may do, the construction byte for byte against Node's AES-CBC
// and HMAC (with session keys whose values the test knows; real materials are never readable), and
// the suite through the executor: round trips, fresh IVs, and every tampering refused in the HSM.

import assert from 'node:assert/strict';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { macInput, macObjectId, openCbcHmac, pkcs7Pad, pkcs7Unpad, sealCbcHmac, type CbcPadding } from '../../src/hsm/pkcs11/cbc-hmac.js';
import { acquireModule } from '../../src/hsm/pkcs11/module.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { HsmError, type BackingKeyRef } from '../../src/ports/hsm.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';
import { findObjects, withRawSession } from '../support/raw-session.js';

const CBC = 'AES_256_CBC_HMAC_SHA_256';
let fx: SoftHsmFixture;
let hsm: Pkcs11Hsm;

before(async () => {
  fx = await createSoftHsm();
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 2 });
});

after(async () => {
  await hsm?.close();
  await fx?.cleanup();
});

const USAGE = [pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT, pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY, pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP];
const LOCKS = [pkcs11js.CKA_TOKEN, pkcs11js.CKA_PRIVATE, pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE, pkcs11js.CKA_NEVER_EXTRACTABLE];

function describeObject(pkcs11: pkcs11js.PKCS11, session: Buffer, handle: Buffer): { keyType: number; label: string; usage: boolean[]; locks: boolean[] } {
  const [keyType, label] = pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_LABEL }]);
  const bools = (types: number[]): boolean[] => pkcs11.C_GetAttributeValue(session, handle, types.map((type) => ({ type }))).map((attr) => attr.value[0] !== 0);
  return { keyType: keyType!.value.readUInt32LE(0), label: label!.value.toString('utf8'), usage: bools(USAGE), locks: bools(LOCKS) };
}

test('SoftHSM2 can serve both suites; left to itself (auto) a key store uses AES-GCM', async () => {
  assert.deepEqual(await hsm.symmetricSuites(), { AES_256_GCM: undefined, AES_256_CBC_HMAC_SHA_256: undefined });
  assert.deepEqual(await hsm.symmetricSuite(), { suite: 'AES_256_GCM' });
});

test('a CBC-HMAC material is two objects: an AES key that only en/decrypts and an HMAC key that only signs/verifies, both locked in', async () => {
  const ref = newBackingKeyRef();
  await hsm.generateSymmetricKey(ref, CBC);
  withRawSession(fx.modulePath, fx.tokenLabel, (pkcs11, session) => {
    const encryption = findObjects(pkcs11, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') },
    ]);
    const mac = findObjects(pkcs11, session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: macObjectId(ref) },
    ]);
    assert.equal(encryption.length, 1, 'one object under the material id');
    assert.equal(mac.length, 1, 'one MAC key under the material id ‖ 0x4d');
    assert.deepEqual(macObjectId(ref), Buffer.concat([Buffer.from(ref.id, 'hex'), Buffer.from([0x4d])]));
    const e = describeObject(pkcs11, session, encryption[0]!);
    const m = describeObject(pkcs11, session, mac[0]!);
    assert.equal(e.keyType, pkcs11js.CKK_AES);
    assert.equal(m.keyType, pkcs11js.CKK_GENERIC_SECRET);
    assert.equal(e.label, ref.label);
    assert.equal(m.label, ref.label);
    // encrypt, decrypt, sign, verify, wrap, unwrap
    assert.deepEqual(e.usage, [true, true, false, false, false, false]);
    assert.deepEqual(m.usage, [false, false, true, true, false, false]);
    // token, private, sensitive, extractable, never extractable
    assert.deepEqual(e.locks, [true, true, true, false, true]);
    assert.deepEqual(m.locks, [true, true, true, false, true]);
  });
  const objects = (await hsm.listKeyObjects()).filter((o) => o.id === ref.id);
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['mac', 'secret']);
  assert.equal((await hsm.listSymmetricKeys()).filter((o) => o.id === ref.id).length, 1, 'one material, listed once');
  assert.equal(await hsm.destroySymmetricKey(ref), true);
  assert.equal((await hsm.listKeyObjects()).filter((o) => o.id === ref.id).length, 0, 'both objects destroyed');
});

// Session keys with known values: what the HSM computes can be recomputed by Node.
function knownKey(pkcs11: pkcs11js.PKCS11, session: Buffer, keyType: number, value: Buffer, usage: number[]): Buffer {
  return pkcs11.C_CreateObject(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: keyType },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_VALUE, value },
    ...usage.map((type) => ({ type, value: true })),
  ]);
}

function nodeSeal(encKey: Buffer, macKey: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv('aes-256-cbc', encKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const al = Buffer.alloc(8);
  al.writeBigUInt64BE(BigInt(aad.length * 8));
  const tag = createHmac('sha256', macKey).update(Buffer.concat([aad, iv, ciphertext, al])).digest();
  return { ciphertext, tag };
}

for (const padding of ['token', 'host'] as const satisfies readonly CbcPadding[]) {
  test(`the construction equals AES-256-CBC (PKCS#7) then HMAC-SHA-256(A ‖ IV ‖ C ‖ AL), padding in the ${padding}`, async () => {
    const encValue = randomBytes(32);
    const macValue = randomBytes(32);
    const lease = acquireModule(fx.modulePath);
    const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label: fx.tokenLabel }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      const pkcs11 = lease.pkcs11;
      const keys = {
        encryptionKey: knownKey(pkcs11, session, pkcs11js.CKK_AES, encValue, [pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT]),
        macKey: knownKey(pkcs11, session, pkcs11js.CKK_GENERIC_SECRET, macValue, [pkcs11js.CKA_SIGN, pkcs11js.CKA_VERIFY]),
      };
      for (const length of [0, 1, 15, 16, 17, 32, 4096]) {
        const plaintext = randomBytes(length);
        const aad = randomBytes(50 + (length % 7));
        const iv = randomBytes(16);
        const sealed = await sealCbcHmac(pkcs11, session, keys, padding, iv, plaintext, aad);
        const expected = nodeSeal(encValue, macValue, iv, plaintext, aad);
        assert.deepEqual(sealed.ciphertext, expected.ciphertext, `ciphertext, ${length} bytes`);
        assert.deepEqual(sealed.tag, expected.tag, `tag, ${length} bytes`);
        assert.deepEqual(await openCbcHmac(pkcs11, session, keys, padding, iv, sealed.ciphertext, sealed.tag, aad), plaintext);
        // Any change, including one the MAC covers only through AL (a byte moved from A into C's place), fails before decryption.
        const tamperings: Array<[string, () => Promise<Buffer>]> = [
          ['tag', () => openCbcHmac(pkcs11, session, keys, padding, iv, sealed.ciphertext, flip(sealed.tag, 31), aad)],
          ['iv', () => openCbcHmac(pkcs11, session, keys, padding, flip(iv, 0), sealed.ciphertext, sealed.tag, aad)],
          ['ciphertext', () => openCbcHmac(pkcs11, session, keys, padding, iv, flip(sealed.ciphertext, sealed.ciphertext.length - 1), sealed.tag, aad)],
          ['aad', () => openCbcHmac(pkcs11, session, keys, padding, iv, sealed.ciphertext, sealed.tag, flip(aad, 3))],
          ['aad length', () => openCbcHmac(pkcs11, session, keys, padding, iv, sealed.ciphertext, sealed.tag, aad.subarray(1))],
        ];
        for (const [what, attempt] of tamperings) {
          await assert.rejects(attempt, (err: unknown) => err instanceof HsmError && err.code === 'HSM_DECRYPT_FAILED', `${what}, ${length} bytes`);
        }
      }
      // A ciphertext with a valid MAC but a malformed pad (only a MAC-key holder can make one):
      // refused. On the host (what every token with raw CBC uses) it is the same HSM_DECRYPT_FAILED;
      // SoftHSM2's own CKM_AES_CBC_PAD answers it with CKR_GENERAL_ERROR.
      const iv = randomBytes(16);
      const raw = createCipheriv('aes-256-cbc', encValue, iv).setAutoPadding(false);
      const badPad = Buffer.concat([raw.update(Buffer.alloc(16, 0x11)), raw.final()]);
      const aad = Buffer.from('header');
      const tag = createHmac('sha256', macValue).update(macInput(aad, iv, badPad)).digest();
      await assert.rejects(openCbcHmac(pkcs11, session, keys, padding, iv, badPad, tag, aad), (err: unknown) =>
        padding === 'host' ? err instanceof HsmError && err.code === 'HSM_DECRYPT_FAILED' : err instanceof Error,
      );
    } finally {
      lease.pkcs11.C_CloseSession(session);
      lease.release();
    }
  });
}

test('PKCS#7 on the host: 1–16 bytes of padding, each its length; anything else is refused', () => {
  for (const length of [0, 1, 15, 16, 31]) {
    const padded = pkcs7Pad(Buffer.alloc(length, 7));
    assert.equal(padded.length % 16, 0);
    assert.ok(padded.length > length);
    assert.deepEqual(pkcs7Unpad(padded), Buffer.alloc(length, 7));
  }
  for (const bad of [Buffer.alloc(16, 0), Buffer.alloc(16, 17), Buffer.concat([Buffer.alloc(14, 1), Buffer.from([3, 2])]), Buffer.alloc(0)]) {
    assert.equal(pkcs7Unpad(bad), undefined, bad.toString('hex'));
  }
});

function flip(buffer: Buffer, at: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[at]! ^= 0x01;
  return copy;
}

test('through the executor: round trips of every length, a fresh 16-byte IV and a 32-byte tag each time, tampering refused', async () => {
  const ref = newBackingKeyRef();
  await hsm.generateSymmetricKey(ref, CBC);
  const aad = Buffer.from('header and encryption context');
  const ivs = new Set<string>();
  for (const length of [1, 16, 31, 32, 4096]) {
    const plaintext = randomBytes(length);
    const sealed = await hsm.encrypt(ref, plaintext, aad, CBC);
    assert.equal(sealed.iv.length, 16);
    assert.equal(sealed.tag.length, 32);
    assert.equal(sealed.ciphertext.length, (Math.floor(length / 16) + 1) * 16);
    ivs.add(sealed.iv.toString('hex'));
    assert.deepEqual(await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, aad, CBC), plaintext);
    await assert.rejects(hsm.decrypt(ref, sealed.iv, flip(sealed.ciphertext, 0), sealed.tag, aad, CBC), (err: unknown) => err instanceof HsmError && err.code === 'HSM_DECRYPT_FAILED');
    await assert.rejects(hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag.subarray(0, 16), aad, CBC), (err: unknown) => err instanceof HsmError && err.code === 'HSM_DECRYPT_FAILED');
  }
  assert.equal(ivs.size, 5, 'every IV is fresh');
  await hsm.destroySymmetricKey(ref);
});

test('a GCM material has no MAC key: asked for CBC-HMAC it is HSM_KEY_NOT_FOUND, never used the other way', async () => {
  const ref: BackingKeyRef = newBackingKeyRef();
  await hsm.generateSymmetricKey(ref);
  await assert.rejects(hsm.encrypt(ref, Buffer.from('x'), Buffer.alloc(0), CBC), (err: unknown) => err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND');
  await hsm.destroySymmetricKey(ref);
});
