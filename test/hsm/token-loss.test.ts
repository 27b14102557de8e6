// A member whose token disappears and comes back returns to service by itself (issue #19), on real
// SoftHSM2: the token's directory is moved away and back, as when an HSM reboots or a USB HSM is
// re-plugged. SoftHSM2 (like most libraries) builds its slot list at C_Initialize and keeps seeing
// the token gone until the library is re-initialised; keybridge does that while the other member,
// on the same library, serves under load — without a client-visible failure and without a restart.

import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ClusterHsm } from '../../src/hsm/cluster/cluster-hsm.js';
import { installClusterWrappingKey } from '../../src/hsm/pkcs11/cluster-wrapping-key.js';
import { reinitializationsOf } from '../../src/hsm/pkcs11/module.js';
import type { VendorProfile } from '../../src/hsm/vendor-profile.js';
import type { MemberStatus } from '../../src/ports/key-stores.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, tokenDirOf as tokenDirUnder, type SoftHsmFixture } from '../support/softhsm.js';
import { runLoops } from '../support/loops.js';
import { until } from '../support/until.js';

const LIMIT = { timeout: 120_000 };
const MAX_RETRY_INTERVAL_MS = 2_000;
const AAD = Buffer.from('token-loss');

let fx: SoftHsmFixture;
let profile: VendorProfile;
let labelA: string;
let labelB: string;

before(async () => {
  fx = await createSoftHsm({ extraTokens: 1 });
  [labelA, labelB] = fx.tokenLabels as [string, string];
  profile = loadVendorProfile('softhsm2');
  await installClusterWrappingKey(
    [
      { name: 'a', modulePath: fx.modulePath, tokenLabel: labelA },
      { name: 'b', modulePath: fx.modulePath, tokenLabel: labelB },
    ],
    fx.soPin,
  );
});

after(async () => {
  await fx?.cleanup();
});

/** The directory SoftHSM2 keeps the token labelled `label` in. */
function tokenDirOf(label: string): string {
  return tokenDirUnder(join(fx.dir, 'tokens'), label);
}

function member(cluster: ClusterHsm, name: string): MemberStatus {
  return cluster.status().members.find((m) => m.name === name)!;
}

/** Encrypt + decrypt pairs on `concurrency` loops until stopped. */
function load(cluster: ClusterHsm, keys: readonly ReturnType<typeof newBackingKeyRef>[], concurrency: number) {
  return runLoops(concurrency, async (loop, round) => {
    const key = keys[(loop + round) % keys.length]!;
    const plaintext = Buffer.from(`pair ${loop}/${round}`);
    const sealed = await cluster.encrypt(key, plaintext, AAD);
    assert.deepEqual(await cluster.decrypt(key, sealed.iv, sealed.ciphertext, sealed.tag, AAD), plaintext);
  });
}

test('a member whose token directory goes away and comes back is ACTIVE again without a restart; 0 failures under load', LIMIT, async () => {
  const cluster = await ClusterHsm.connect({
    clusterId: 'cluster-kbTokenLoss',
    members: [
      { name: 'a', modulePath: fx.modulePath, tokenLabel: labelA, profile },
      { name: 'b', modulePath: fx.modulePath, tokenLabel: labelB, profile },
    ],
    pin: fx.userPin,
    minMembers: 1,
    replication: 'keybridge',
    healthCheckIntervalMs: 200,
    maxRetryIntervalMs: MAX_RETRY_INTERVAL_MS,
    requestsPerSecond: 0,
  });
  try {
    const keys = [newBackingKeyRef(), newBackingKeyRef()];
    for (const key of keys) await cluster.generateSymmetricKey(key);
    assert.deepEqual(cluster.activeMembers(), ['a', 'b']);
    const reinitsBefore = reinitializationsOf(fx.modulePath);
    const work = load(cluster, keys, 4);
    await sleep(300);

    const dirB = tokenDirOf(labelB);
    // Out of the token directory: SoftHSM2 finds tokens in any directory under it.
    const away = join(fx.dir, 'token-away');
    renameSync(dirB, away);
    let movedBack = false;
    try {
      await until(() => member(cluster, 'b').state === 'UNAVAILABLE', 5_000, 'member b to be UNAVAILABLE');
      // Gone for a while: it is retried (the next attempt is shown), never given up.
      await sleep(2_500);
      const gone = member(cluster, 'b');
      assert.equal(gone.state, 'UNAVAILABLE');
      assert.ok(gone.nextAttempt !== undefined && Date.parse(gone.nextAttempt) - Date.now() <= MAX_RETRY_INTERVAL_MS, `next attempt ${gone.nextAttempt}`);
      assert.ok(gone.recoveryAttempts >= 2, `only ${gone.recoveryAttempts} recovery attempts`);
      assert.match(gone.reason ?? '', /HSM_TOKEN_NOT_FOUND|HSM_DEVICE_GONE|HSM_KEY_NOT_FOUND|deep check/u);
      assert.deepEqual(cluster.activeMembers(), ['a']);
      renameSync(away, dirB);
      movedBack = true;
      const back = performance.now();
      await until(() => member(cluster, 'b').state === 'ACTIVE', MAX_RETRY_INTERVAL_MS + 5_000, 'member b to be ACTIVE again');
      const backMs = performance.now() - back;
      await sleep(300);
      await work.stop();
      assert.deepEqual(work.failures, [], `client-visible failures: ${work.failures.slice(0, 3).join(' | ')}`);
      assert.ok(work.done > 100, `only ${work.done} pairs under load`);
      assert.ok(reinitializationsOf(fx.modulePath) > reinitsBefore, 'the library was never re-initialised');
      assert.equal(member(cluster, 'b').nextAttempt, undefined);
      assert.equal(member(cluster, 'b').recoveryAttempts, 0);
      assert.deepEqual(cluster.activeMembers(), ['a', 'b']);
      // B serves again with its own copy of the keys (its sessions, login and handles are new).
      const status = member(cluster, 'b');
      assert.ok(status.resets >= 1);
      console.log(`# back ${Math.round(backMs)} ms after the token returned; ${work.done} pairs, 0 failures`);
    } finally {
      if (!movedBack) renameSync(away, dirB);
      await work.stop();
    }
  } finally {
    await cluster.close();
  }
});
