// Who makes the AES-GCM IV is learnt from the token, not taken from the vendor profile: here the
// fault-injecting module plays a device that makes its own IVs (KEYBRIDGE_FAULTY_GCM_IV=token, as
// AWS CloudHSM does: it writes a fresh IV into a zeroed buffer and refuses a caller's), in front of
// SoftHSM2, while the profile in use (softhsm2) says "caller". Without the probe every encrypt would
// be refused; with it, encrypts carry the device's IVs and decrypt. (Tokens that take the caller's
// IV, SoftHSM2 itself, are every other test.)

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
let dir: string;
let hsm: Pkcs11Hsm;

before(async () => {
  fx = await createSoftHsm();
  dir = mkdtempSync(join(tmpdir(), 'keybridge-iv-generation-'));
  const faults = new FaultController(join(dir, 'faults'));
  faults.clear();
  // Read when the module loads: before anything in this process loads it.
  Object.assign(process.env, faultyEnv(faults.controlFile, fx.modulePath), { KEYBRIDGE_FAULTY_GCM_IV: 'token' });
  const modulePath = await buildFaultyPkcs11();
  hsm = await Pkcs11Hsm.open({ modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 2 });
});

after(async () => {
  await hsm?.close();
  await fx?.cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test('a device that makes its own GCM IVs: learnt by the probe, though the profile says "caller"; every ciphertext decrypts', async () => {
  const ref = newBackingKeyRef();
  await hsm.generateSymmetricKey(ref);
  const aad = Buffer.from('context');
  const ivs = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const plaintext = Buffer.from(`message ${i}`);
    const sealed = await hsm.encrypt(ref, plaintext, aad);
    assert.equal(sealed.iv.length, 12);
    assert.ok(!sealed.iv.equals(Buffer.alloc(12)), 'the IV the device wrote is returned');
    ivs.add(sealed.iv.toString('hex'));
    assert.deepEqual(await hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, aad), plaintext);
  }
  assert.equal(ivs.size, 20, 'every IV is fresh');
});
