import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { acquireModule, describeModule } from '../../src/hsm/pkcs11/module.js';
import { initializeToken, tokenExists } from '../../src/hsm/pkcs11/token-init.js';
import { HsmError } from '../../src/ports/hsm.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;

before(async () => {
  // A fresh token directory with no token in it: token-init has to make one.
  fx = await createSoftHsm({ initToken: false });
});

after(async () => {
  try {
    assert.equal(describeModule(fx.modulePath)?.refs ?? 0, 0, 'every lease must be released');
  } finally {
    await fx.cleanup();
  }
});

const profile = loadVendorProfile('softhsm2');

async function useToken(label: string, pin: string): Promise<Pkcs11Hsm> {
  const hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: label, pin, profile, maxSessions: 2 });
  const key = newBackingKeyRef();
  await hsm.generateSymmetricKey(key);
  const sealed = await hsm.encrypt(key, Buffer.from('hello'), Buffer.alloc(0));
  assert.equal((await hsm.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, Buffer.alloc(0))).toString(), 'hello');
  return hsm;
}

test('initializeToken creates a usable token in a fresh directory, in the same process', async () => {
  const label = 'keybridge-default';
  const soPin = randomBytes(8).toString('hex');
  const userPin = randomBytes(8).toString('hex');
  assert.equal(await tokenExists({ modulePath: fx.modulePath, label }), false);

  await initializeToken({ modulePath: fx.modulePath, label, soPin, userPin });

  assert.equal(await tokenExists({ modulePath: fx.modulePath, label }), true);
  // The label is padded with spaces, not NULs, so other tools see the same name.
  const lease = acquireModule(fx.modulePath);
  try {
    const info = lease.pkcs11.C_GetTokenInfo(lease.findSlot({ label }));
    assert.equal(info.label, label.padEnd(32, ' '));
  } finally {
    lease.release();
  }
  const { stdout } = await promisify(execFile)('softhsm2-util', ['--show-slots'], { env: { ...process.env, SOFTHSM2_CONF: fx.confPath } });
  assert.match(stdout, new RegExp(`Label:\\s+${label}\\s*\\n`));

  const hsm = await useToken(label, userPin);
  await hsm.close();
  // The SO PIN is not the user PIN.
  await assert.rejects(
    Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: label, pin: soPin, profile }),
    (err: unknown) => err instanceof HsmError && err.code === 'HSM_LOGIN_FAILED',
  );
});

test('a second token can be made while the first is open in this process', async () => {
  const firstPin = randomBytes(8).toString('hex');
  await initializeToken({ modulePath: fx.modulePath, label: 'first', soPin: randomBytes(8).toString('hex'), userPin: firstPin });
  const first = await useToken('first', firstPin);
  try {
    const secondPin = randomBytes(8).toString('hex');
    await initializeToken({ modulePath: fx.modulePath, label: 'second', soPin: randomBytes(8).toString('hex'), userPin: secondPin });
    const second = await useToken('second', secondPin);
    await second.close();
    // The first token's login survived the SO login/logout on the second.
    assert.equal(first.stats().generation, 0);
    const key = newBackingKeyRef();
    await first.generateSymmetricKey(key);
  } finally {
    await first.close();
  }
});

test('initializeToken refuses an existing label and a label that does not fit', async () => {
  await assert.rejects(
    initializeToken({ modulePath: fx.modulePath, label: 'keybridge-default', soPin: 'so-pin-1234', userPin: 'user-pin-1234' }),
    (err: unknown) => err instanceof HsmError && err.code === 'HSM_FAILED',
  );
  await assert.rejects(
    initializeToken({ modulePath: fx.modulePath, label: 'x'.repeat(33), soPin: 'so-pin-1234', userPin: 'user-pin-1234' }),
    (err: unknown) => err instanceof HsmError && err.code === 'HSM_FAILED',
  );
});
