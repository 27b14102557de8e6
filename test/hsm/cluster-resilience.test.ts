// Cluster resilience on real SoftHSM2 tokens behind the fault-injecting PKCS#11 module
// (test/fixtures/faulty-pkcs11): keybridge replication under the SO-installed trusted wrapping key,
// failover, circuit breaker and recovery, deep health checks, deadlines and admission control.
// Faults are injected beneath keybridge, at the PKCS#11 boundary; nothing of ours is mocked.

import assert from 'node:assert/strict';
import { constants as cryptoConstants, createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';

import pkcs11js from 'pkcs11js';

import { CKR } from '../../src/hsm/pkcs11/ckr.js';
import { ClusterHsm, type ClusterConnectOptions, type ClusterObserver } from '../../src/hsm/cluster/cluster-hsm.js';
import { installClusterWrappingKey, wrappingKeyStatus } from '../../src/hsm/pkcs11/cluster-wrapping-key.js';
import { acquireModule } from '../../src/hsm/pkcs11/module.js';
import { replicableAesTemplate } from '../../src/hsm/pkcs11/replication-templates.js';
import type { VendorProfile } from '../../src/hsm/vendor-profile.js';
import { HsmError } from '../../src/ports/hsm.js';
import type { MemberState } from '../../src/ports/key-stores.js';
import { whileHoldingClaim } from '../../src/services/work-claim.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { postThenStall } from '../support/event-loop-stall.js';
import { buildFaultyPkcs11, FaultController, faultyEnv } from '../support/faulty-pkcs11.js';
import { createSoftHsm, loadVendorProfile, newBackingKeyRef, type SoftHsmFixture } from '../support/softhsm.js';

let fx: SoftHsmFixture;
let faulty: string;
let faults: FaultController;
let profile: VendorProfile;
let labelA: string;
let labelB: string;
const AAD = Buffer.from('resilience');
const transitions: string[] = [];

const observer: ClusterObserver = {
  memberCall: () => undefined,
  memberState: (event) => transitions.push(`${event.member}:${event.to}`),
};

before(async () => {
  fx = await createSoftHsm({ extraTokens: 1 });
  [labelA, labelB] = fx.tokenLabels as [string, string];
  faulty = await buildFaultyPkcs11();
  const controlFile = join(fx.dir, 'faults.conf');
  writeFileSync(controlFile, '');
  // Before anything in this process loads the faulty module.
  Object.assign(process.env, faultyEnv(controlFile, fx.modulePath));
  faults = new FaultController(controlFile);
  profile = loadVendorProfile('softhsm2');
  await installClusterWrappingKey(members(), fx.soPin);
});

after(async () => {
  faults?.clear();
  await fx?.cleanup();
});

function members() {
  return [
    { name: 'a', modulePath: faulty, tokenLabel: labelA },
    { name: 'b', modulePath: faulty, tokenLabel: labelB },
  ];
}

function connect(overrides: Partial<ClusterConnectOptions> = {}): Promise<ClusterHsm> {
  return ClusterHsm.connect({
    clusterId: 'cluster-kbResilience',
    members: members().map((m) => ({ ...m, profile })),
    pin: fx.userPin,
    minMembers: 1,
    replication: 'keybridge',
    healthCheckIntervalMs: 0,
    callTimeoutMs: 500,
    requestsPerSecond: 0,
    observer,
    ...overrides,
  });
}

/** Connects, runs `fn`, then clears every fault and closes the cluster, whatever happened. */
async function withCluster(overrides: Partial<ClusterConnectOptions>, fn: (cluster: ClusterHsm) => Promise<void>): Promise<void> {
  const cluster = await connect(overrides);
  try {
    await fn(cluster);
  } finally {
    await faults.heal();
    await cluster.close();
  }
}

function stateOf(cluster: ClusterHsm, member: string): MemberState | undefined {
  return cluster.status().members.find((m) => m.name === member)?.state;
}

async function roundTrip(cluster: ClusterHsm, ref: ReturnType<typeof newBackingKeyRef>, text = 'resilient'): Promise<void> {
  const sealed = await cluster.encrypt(ref, Buffer.from(text), AAD);
  assert.equal((await cluster.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, AAD)).toString(), text);
}

const CLASS_NAME = new Map<number, string>([
  [pkcs11js.CKO_SECRET_KEY, 'secret'],
  [pkcs11js.CKO_PRIVATE_KEY, 'private'],
  [pkcs11js.CKO_PUBLIC_KEY, 'public'],
]);

/**
 * The key objects with this id on each member (raw PKCS#11, seeing private objects through the
 * cluster's login): 'private' / 'secret' with ':extractable' or ':non-extractable', and 'public'.
 */
function objectsOn(ref: ReturnType<typeof newBackingKeyRef>): Map<string, string[]> {
  const lease = acquireModule(faulty);
  const out = new Map<string, string[]>();
  try {
    for (const member of members()) {
      const slot = lease.findSlot({ label: member.tokenLabel });
      const session = lease.pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        lease.pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') }]);
        const found = lease.pkcs11.C_FindObjects(session, 10);
        lease.pkcs11.C_FindObjectsFinal(session);
        const objects = found.map((handle) => {
          const [cls] = lease.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_CLASS }]);
          const name = CLASS_NAME.get(cls!.value.readUInt32LE()) ?? 'other';
          if (name === 'public') return name;
          const [extractable] = lease.pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_EXTRACTABLE }]);
          return `${name}:${extractable!.value[0] === 1 ? 'extractable' : 'non-extractable'}`;
        });
        out.set(member.name, objects.sort());
      } finally {
        lease.pkcs11.C_CloseSession(session);
      }
    }
  } finally {
    lease.release();
  }
  return out;
}

/** Destroys this key's public key object on one member (raw PKCS#11, through the cluster's login). */
function destroyPublicKeyOn(tokenLabel: string, ref: ReturnType<typeof newBackingKeyRef>): void {
  const lease = acquireModule(faulty);
  try {
    const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label: tokenLabel }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lease.pkcs11.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') },
      ]);
      const found = lease.pkcs11.C_FindObjects(session, 2);
      lease.pkcs11.C_FindObjectsFinal(session);
      assert.equal(found.length, 1);
      lease.pkcs11.C_DestroyObject(session, found[0]!);
    } finally {
      lease.pkcs11.C_CloseSession(session);
    }
  } finally {
    lease.release();
  }
}

/**
 * Takes `member` out (its device is gone; the breaker trips on its first call) and leaves the
 * other one serving. Two calls at once: least-outstanding routing sends one to each member.
 * NOTE: while the fault is set, objectsOn() cannot find the member's token either.
 */
async function takeOut(cluster: ClusterHsm, member: 'a' | 'b'): Promise<void> {
  await faults.apply([{ label: member === 'a' ? labelA : labelB, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
  for (let i = 0; i < 4 && stateOf(cluster, member) !== 'UNAVAILABLE'; i++) {
    const results = await Promise.allSettled([cluster.random(8), cluster.random(8)]);
    assert.ok(results.every((r) => r.status === 'fulfilled'), 'the other member answers');
  }
  assert.equal(stateOf(cluster, member), 'UNAVAILABLE');
  assert.deepEqual(cluster.activeMembers(), [member === 'a' ? 'b' : 'a']);
}

/** Heals the faults and lets the health checker reset, resync and re-admit the member. */
async function bringBack(cluster: ClusterHsm): Promise<void> {
  await faults.heal();
  for (let i = 0; i < 30 && cluster.activeMembers().length < 2; i++) {
    await cluster.checkNow();
    if (cluster.activeMembers().length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(cluster.status().members.map((m) => m.state), ['ACTIVE', 'ACTIVE']);
}

/** Signs `message` through the cluster and checks the signature with Node's crypto and in the HSM. */
async function signAndCheck(cluster: ClusterHsm, ref: ReturnType<typeof newBackingKeyRef>, spki: Buffer, kind: 'ecdsa' | 'pss' | 'pkcs1', message: Buffer): Promise<void> {
  const digest = createHash('sha256').update(message).digest();
  const algorithm = kind === 'ecdsa' ? 'ECDSA_SHA_256' : kind === 'pss' ? 'RSASSA_PSS_SHA_256' : 'RSASSA_PKCS1_V1_5_SHA_256';
  const signature = await cluster.sign(ref, algorithm, digest);
  const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const options = kind === 'pss' ? { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key;
  assert.equal(nodeVerify('sha256', message, options, signature), true, `${algorithm} signature verifies with Node's crypto`);
  assert.equal(await cluster.verify(ref, kind === 'ecdsa' ? 'ECC_NIST_P256' : 'RSA_2048', algorithm, digest, signature), true);
}

/** Which members hold a key object with this id, and with which extractability (raw PKCS#11). */
function holders(ref: ReturnType<typeof newBackingKeyRef>): Map<string, boolean> {
  const lease = acquireModule(faulty);
  const out = new Map<string, boolean>();
  try {
    for (const member of members()) {
      const slot = lease.findSlot({ label: member.tokenLabel });
      const session = lease.pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        lease.pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') }]);
        const found = lease.pkcs11.C_FindObjects(session, 2);
        lease.pkcs11.C_FindObjectsFinal(session);
        if (found.length === 1) {
          const [attr] = lease.pkcs11.C_GetAttributeValue(session, found[0]!, [{ type: pkcs11js.CKA_EXTRACTABLE }]);
          out.set(member.name, attr!.value[0] === 1);
        }
      } finally {
        lease.pkcs11.C_CloseSession(session);
      }
    }
  } finally {
    lease.release();
  }
  return out;
}

/** Wrapping `key` under a key the SO did not mark trusted fails with CKR_KEY_NOT_WRAPPABLE (CKA_WRAP_WITH_TRUSTED). */
function assertNotWrappableUnderUntrusted(pkcs11: pkcs11js.PKCS11, session: Buffer, key: Buffer, what: string): void {
  const untrusted = pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_WRAP, value: true },
  ]);
  assert.throws(
    () => pkcs11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, untrusted, key, Buffer.alloc(64)),
    (err: unknown) => err instanceof pkcs11js.Pkcs11Error && err.code === CKR.CKR_KEY_NOT_WRAPPABLE,
    `${what} left under an untrusted key`,
  );
}

describe('keybridge replication under the trusted wrapping key', () => {
  test('cluster init installs the wrapping key on every member and is idempotent', async () => {
    assert.deepEqual((await wrappingKeyStatus(members())).map((m) => m.installed), [true, true]);
    assert.equal((await installClusterWrappingKey(members(), fx.soPin)).outcome, 'present');
    await assert.rejects(installClusterWrappingKey(members(), 'wrong-so-pin', { replace: true }), (err: unknown) => err instanceof HsmError && err.ckr === CKR.CKR_PIN_INCORRECT);
  });

  test('SoftHSM2 enforces CKA_WRAP_WITH_TRUSTED: wrapping under an untrusted key fails with CKR_KEY_NOT_WRAPPABLE', () => {
    const lease = acquireModule(faulty);
    const slot = lease.findSlot({ label: labelA });
    const session = lease.pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lease.pkcs11.C_Login(session, pkcs11js.CKU_USER, fx.userPin);
      const ref = newBackingKeyRef();
      const template = replicableAesTemplate(ref).map((a) => (a.type === pkcs11js.CKA_TOKEN ? { type: a.type, value: false } : a));
      const key = lease.pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template);
      assertNotWrappableUnderUntrusted(lease.pkcs11, session, key, 'an origin copy');
      // And a user cannot make a key trusted: only the SO may set CKA_TRUSTED.
      assert.throws(
        () =>
          lease.pkcs11.C_CreateObject(session, [
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
            { type: pkcs11js.CKA_TOKEN, value: false },
            { type: pkcs11js.CKA_TRUSTED, value: true },
            { type: pkcs11js.CKA_WRAP, value: true },
            { type: pkcs11js.CKA_VALUE, value: Buffer.alloc(32, 1) },
          ]),
        /CKR_ATTRIBUTE_READ_ONLY/,
      );
    } finally {
      lease.pkcs11.C_Logout(session);
      lease.pkcs11.C_CloseSession(session);
      lease.release();
    }
  });

  test('a new key exists on every member, every copy wrappable under the trusted key only (any member can seed a new one)', async () => {
    await withCluster({}, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      const held = holders(ref);
      assert.equal(held.size, 2);
      assert.deepEqual([...held.values()], [true, true], 'the origin and its copy, both extractable under the trusted key only');
      await roundTrip(cluster, ref);
    });
  });

  test('a member that missed keys while away is resynced before it serves again; deletions reach it too', async () => {
    await withCluster({}, async (cluster) => {
      const kept = newBackingKeyRef();
      const doomed = newBackingKeyRef();
      await cluster.generateSymmetricKey(kept);
      await cluster.generateSymmetricKey(doomed);
      await faults.apply([{ label: labelA, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
      await roundTrip(cluster, kept); // fails over to b and trips a
      assert.equal(stateOf(cluster, 'a'), 'UNAVAILABLE');
      const made = newBackingKeyRef();
      await cluster.generateSymmetricKey(made);
      assert.equal(await cluster.destroySymmetricKey(doomed), true);
      await faults.heal();
      await cluster.checkNow();
      assert.equal(stateOf(cluster, 'a'), 'ACTIVE');
      assert.equal(holders(made).size, 2, 'the key made while a was away is on a now');
      assert.equal(holders(doomed).size, 0, 'the key destroyed while a was away is gone from a too');
      // a alone serves the new key.
      await faults.apply([{ label: labelB, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
      await roundTrip(cluster, made);
      faults.clear();
    });
  });

  test('default quorum: a member failing its copy for a reason of its own is taken out and resynced; CreateKey succeeds', async () => {
    await withCluster({}, async (cluster) => {
      await faults.apply([{ label: labelB, scope: ['C_UnwrapKey'], fail: 'CKR_DEVICE_ERROR', count: 1 }]);
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      assert.equal(stateOf(cluster, 'b'), 'UNAVAILABLE', 'b missed the new key: it must not serve before a resync');
      assert.equal(holders(ref).size, 1);
      await faults.heal();
      await cluster.checkNow();
      assert.equal(stateOf(cluster, 'b'), 'ACTIVE');
      assert.equal(holders(ref).size, 2, 'the resync copied the key to b');
      await faults.apply([{ label: labelA, scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
      await roundTrip(cluster, ref); // b alone serves it
    });
  });

  test('default quorum: a copy refused for what it is (not the member) still fails CreateKey, and nothing is left behind', async () => {
    await withCluster({}, async (cluster) => {
      await faults.apply([{ label: labelB, scope: ['C_UnwrapKey'], fail: 'CKR_DEVICE_MEMORY' }]);
      const ref = newBackingKeyRef();
      await assert.rejects(cluster.generateSymmetricKey(ref), (err: unknown) => err instanceof HsmError && /reached 1 of 2 members/.test(err.message));
      assert.equal(holders(ref).size, 0);
      assert.equal(stateOf(cluster, 'b'), 'ACTIVE');
    });
  });

  test('CreateKey needs the quorum: with a member refusing copies, nothing is left behind', async () => {
    await withCluster({ replicationQuorum: 2 }, async (cluster) => {
      await faults.apply([{ label: labelB, scope: ['C_UnwrapKey'], fail: 'CKR_DEVICE_MEMORY' }]);
      const ref = newBackingKeyRef();
      await assert.rejects(cluster.generateSymmetricKey(ref), (err: unknown) => err instanceof HsmError && /reached 1 of 2 members/.test(err.message));
      assert.equal(holders(ref).size, 0);
    });
  });
});

describe('failover, breaker and recovery', () => {
  test('transient session and login failures are absorbed beneath the cluster', async () => {
    await withCluster({}, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      for (const fail of ['CKR_SESSION_HANDLE_INVALID', 'CKR_USER_NOT_LOGGED_IN'] as const) {
        await faults.apply([{ scope: ['C_EncryptInit'], fail, count: 1 }]);
        await roundTrip(cluster, ref);
      }
      assert.deepEqual(cluster.status().members.map((m) => m.state), ['ACTIVE', 'ACTIVE']);
    });
  });

  test('a device error on one member: the call moves to the other, the member is taken out, then reset and re-admitted', async () => {
    await withCluster({}, async (cluster) => {
      transitions.length = 0;
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      await faults.apply([{ scope: ['C_EncryptInit', 'C_DecryptInit'], fail: 'CKR_DEVICE_ERROR', count: 1 }]);
      await roundTrip(cluster, ref);
      assert.equal(cluster.status().members.filter((m) => m.state === 'UNAVAILABLE').length, 1);
      await faults.heal();
      await cluster.checkNow();
      assert.deepEqual(cluster.status().members.map((m) => m.state), ['ACTIVE', 'ACTIVE']);
      assert.equal(cluster.status().members.reduce((n, m) => n + m.resets, 0), 1);
      assert.ok(transitions.some((t) => t.endsWith(':UNAVAILABLE')) && transitions.some((t) => t.endsWith(':ACTIVE')), transitions.join(', '));
    });
  });

  test('a hung member: the deadline takes it out and the call completes on the other member', async () => {
    await withCluster({ callTimeoutMs: 300 }, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      // C_Encrypt runs on libuv's pool (async); a hang there holds a pool thread, not the loop.
      await faults.apply([{ label: labelA, scope: ['C_Encrypt'], hang: true }, { label: labelB, scope: ['C_Encrypt'], latencyMs: 1 }]);
      const started = performance.now();
      for (let i = 0; i < 3; i++) await cluster.encrypt(ref, Buffer.from('x'), AAD);
      assert.ok(performance.now() - started < 2_000);
      assert.equal(stateOf(cluster, 'a'), 'UNAVAILABLE');
      assert.match(cluster.status().members[0]!.reason ?? '', /did not answer within 300 ms/);
    });
  });

  test('our own event loop stalled past the deadline with calls in flight: every call gets its answer, no member is blamed', async () => {
    await withCluster({ callTimeoutMs: 300 }, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      const seen = transitions.length;
      // More calls than failuresToTrip in flight, then the loop is blocked for over twice the
      // deadline. The members answer at once; the loop's next turn starts with the expired timers.
      const { posted: calls } = await postThenStall(700, () => Array.from({ length: 8 }, (_, i) => cluster.encrypt(ref, Buffer.from(`stalled ${i}`), AAD)));
      const sealed = await Promise.all(calls);
      for (const [i, s] of sealed.entries()) {
        assert.equal((await cluster.decrypt(ref, s.iv, s.ciphertext, s.tag, AAD)).toString(), `stalled ${i}`);
      }
      assert.equal(stateOf(cluster, 'a'), 'ACTIVE');
      assert.equal(stateOf(cluster, 'b'), 'ACTIVE');
      assert.deepEqual(transitions.slice(seen), [], 'no member changed state');
    });
  });

  test('a slow member is DEGRADED after its deep check, and ACTIVE again when it is fast', async () => {
    // The deep check is an encrypt and a decrypt (each an init and a call): 100 ms injected per
    // crypto call is well over the 150 ms bar and within the 2 s deadline, while a healthy check
    // takes a few ms. A loaded CI machine can still stall one healthy check past the bar, so the
    // member gets three checks to show it is fast again.
    await withCluster({ slowCheckMs: 150, callTimeoutMs: 2000 }, async (cluster) => {
      await faults.apply([{ label: labelA, scope: 'crypto', latencyMs: 100 }]);
      await cluster.checkNow();
      assert.equal(stateOf(cluster, 'a'), 'DEGRADED');
      assert.match(cluster.status().members[0]!.reason ?? '', /deep check took \d+ ms \(over 150 ms\)/);
      await faults.heal();
      for (let check = 0; check < 3 && stateOf(cluster, 'a') !== 'ACTIVE'; check++) await cluster.checkNow();
      assert.equal(stateOf(cluster, 'a'), 'ACTIVE');
    });
  });

  test('every member down: a fast KMSInvalidStateException, and a member that stays broken keeps backing off', async () => {
    await withCluster({}, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      await faults.apply([{ scope: 'all', fail: 'CKR_DEVICE_REMOVED' }]);
      const started = performance.now();
      await assert.rejects(cluster.encrypt(ref, Buffer.from('x'), AAD), (err: unknown) => err instanceof HsmError && err.code === 'HSM_NO_ACTIVE_MEMBER');
      await assert.rejects(cluster.encrypt(ref, Buffer.from('x'), AAD), (err: unknown) => err instanceof HsmError && err.code === 'HSM_NO_ACTIVE_MEMBER');
      assert.ok(performance.now() - started < 500, 'no waiting for a dead cluster');
      await cluster.checkNow();
      assert.deepEqual(cluster.status().members.map((m) => m.state), ['UNAVAILABLE', 'UNAVAILABLE']);
      faults.clear();
      for (let i = 0; i < 50 && cluster.activeMembers().length < 2; i++) {
        await cluster.checkNow();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(cluster.activeMembers().length, 2);
      await roundTrip(cluster, ref);
    });
  });
});

describe('admission control', () => {
  test('beyond the store quota: ThrottlingException before any HSM is asked', async () => {
    await withCluster({ requestsPerSecond: 5 }, async (cluster) => {
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => cluster.random(8)));
      const throttled = results.filter((r) => r.status === 'rejected' && r.reason instanceof HsmError && r.reason.code === 'HSM_THROTTLED');
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
      assert.equal(throttled.length, 3);
    });
  });

  test('beyond every member\'s concurrency limit: ThrottlingException, not an HSM failure', async () => {
    await withCluster({ maxOutstandingPerMember: 1 }, async (cluster) => {
      await faults.apply([{ scope: ['C_GenerateRandom'], latencyMs: 50 }]);
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => cluster.random(8)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
      assert.ok(results.every((r) => r.status === 'fulfilled' || (r.reason instanceof HsmError && r.reason.code === 'HSM_THROTTLED')));
    });
  });
});

describe('keybridge replication of key pairs and HMAC keys', () => {
  test('a P-256 key, an RSA_2048 key and an HMAC_256 key are on both members (private copies wrappable under the trusted key only) and work with either member failed', async () => {
    await withCluster({}, async (cluster) => {
      const ec = newBackingKeyRef();
      const rsa = newBackingKeyRef();
      const hmac = newBackingKeyRef();
      const ecSpki = await cluster.generateKeyPair(ec, 'ECC_NIST_P256', 'SIGN_VERIFY');
      const rsaSpki = await cluster.generateKeyPair(rsa, 'RSA_2048', 'SIGN_VERIFY');
      await cluster.generateMacKey(hmac, 'HMAC_256');
      for (const ref of [ec, rsa]) {
        const held = objectsOn(ref);
        assert.equal(held.size, 2);
        const privates = [...held.values()].map((objects) => {
          assert.ok(objects.includes('public'), `public key object on every member: ${JSON.stringify([...held])}`);
          assert.equal(objects.length, 2);
          return objects.find((o) => o.startsWith('private:'));
        });
        assert.deepEqual(privates, ['private:extractable', 'private:extractable'], 'the origin and its copy wrappable under the trusted key only');
      }
      assert.deepEqual([...objectsOn(hmac).values()].flat().sort(), ['secret:extractable', 'secret:extractable']);
      // The public key each member holds is the one CreateKey returned.
      assert.deepEqual(await cluster.getPublicKey(ec, 'ECC_NIST_P256'), ecSpki);

      const message = Buffer.from('replicated signing keys');
      const macs: Buffer[] = [];
      for (const away of ['b', 'a'] as const) {
        await takeOut(cluster, away);
        await signAndCheck(cluster, ec, ecSpki, 'ecdsa', message);
        await signAndCheck(cluster, rsa, rsaSpki, 'pss', message);
        await signAndCheck(cluster, rsa, rsaSpki, 'pkcs1', message);
        assert.deepEqual(await cluster.getPublicKey(rsa, 'RSA_2048'), rsaSpki);
        const mac = await cluster.mac(hmac, 'HMAC_SHA_256', message);
        assert.equal(await cluster.verifyMac(hmac, 'HMAC_SHA_256', message, mac), true);
        macs.push(mac);
        await bringBack(cluster);
      }
      assert.deepEqual(macs[0], macs[1], 'both members hold the same HMAC key');
    });
  });

  test('a key pair and an HMAC key made while member a is away are on a after it returns; a lost public key object is recreated', async () => {
    await withCluster({}, async (cluster) => {
      const before = newBackingKeyRef();
      const beforeSpki = await cluster.generateKeyPair(before, 'ECC_NIST_P256', 'SIGN_VERIFY');
      destroyPublicKeyOn(labelA, before);
      assert.equal(objectsOn(before).get('a')!.length, 1);

      await takeOut(cluster, 'a');
      const pair = newBackingKeyRef();
      const spki = await cluster.generateKeyPair(pair, 'ECC_NIST_P256', 'SIGN_VERIFY');
      const hmac = newBackingKeyRef();
      await cluster.generateMacKey(hmac, 'HMAC_224');
      await faults.heal(); // a's token is visible again, but a does not serve until the health check has resynced it
      assert.equal(stateOf(cluster, 'a'), 'UNAVAILABLE');
      assert.deepEqual(objectsOn(pair).get('a'), [], 'made while a was away: on b only');
      assert.deepEqual(objectsOn(hmac).get('a'), []);
      await bringBack(cluster);

      assert.deepEqual(objectsOn(pair).get('a'), ['private:extractable', 'public']);
      assert.deepEqual(objectsOn(hmac).get('a'), ['secret:extractable']);
      assert.deepEqual(objectsOn(before).get('a')!.filter((o) => o === 'public'), ['public'], 'the public key object a lost is back');

      // a alone serves them now.
      await takeOut(cluster, 'b');
      const message = Buffer.from('made while a was away');
      await signAndCheck(cluster, pair, spki, 'ecdsa', message);
      assert.deepEqual(await cluster.getPublicKey(before, 'ECC_NIST_P256'), beforeSpki);
      await signAndCheck(cluster, before, beforeSpki, 'ecdsa', message);
      const mac = await cluster.mac(hmac, 'HMAC_SHA_224', message);
      await bringBack(cluster);
      await takeOut(cluster, 'a');
      assert.equal(await cluster.verifyMac(hmac, 'HMAC_SHA_224', message, mac), true, 'the copy on a and the origin on b are one key (RFC 5649 kept its 28 bytes)');
    });
  });

  test('a key pair needs the quorum too: a member that took the private key but refused the public one is cleaned up', async () => {
    await withCluster({ replicationQuorum: 2 }, async (cluster) => {
      await faults.apply([{ label: labelB, scope: ['C_CreateObject'], fail: 'CKR_DEVICE_MEMORY' }]);
      const ref = newBackingKeyRef();
      await assert.rejects(cluster.generateKeyPair(ref, 'ECC_NIST_P256', 'SIGN_VERIFY'), (err: unknown) => err instanceof HsmError && /reached 1 of 2 members/.test(err.message));
      assert.deepEqual([...objectsOn(ref).values()].flat(), []);
    });
  });

  test('Ed25519 cannot be replicated on SoftHSM2 (it cannot wrap EdDSA private keys): refused before generation, and never left behind', async () => {
    await withCluster({}, async (cluster) => {
      const why = await cluster.missingMechanism('ECC_NIST_EDWARDS25519', 'SIGN_VERIFY');
      assert.match(why ?? '', /cannot wrap ECC_NIST_EDWARDS25519 private keys .*CKR_KEY_NOT_WRAPPABLE/);
      assert.equal(await cluster.missingMechanism('ECC_NIST_P256', 'SIGN_VERIFY'), undefined);
      assert.equal(await cluster.missingMechanism('RSA_2048', 'ENCRYPT_DECRYPT'), undefined);
      assert.equal(await cluster.missingMechanism('HMAC_512', 'GENERATE_VERIFY_MAC'), undefined);
      const ref = newBackingKeyRef();
      await assert.rejects(cluster.generateKeyPair(ref, 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'), (err: unknown) => err instanceof HsmError && err.ckr === CKR.CKR_KEY_NOT_WRAPPABLE);
      assert.deepEqual([...objectsOn(ref).values()].flat(), []);
    });
  });
});

describe('keybridge replication of CBC-HMAC materials (HSMs without AES-GCM)', () => {
  const CBC = 'AES_256_CBC_HMAC_SHA_256';
  const macRef = (ref: ReturnType<typeof newBackingKeyRef>) => ({ ...ref, id: `${ref.id}4d` });

  async function cbcRoundTrip(cluster: ClusterHsm, ref: ReturnType<typeof newBackingKeyRef>, text: string): Promise<void> {
    const sealed = await cluster.encrypt(ref, Buffer.from(text), AAD, CBC);
    assert.equal(sealed.iv.length, 16);
    assert.equal(sealed.tag.length, 32);
    assert.equal((await cluster.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, AAD, CBC)).toString(), text);
  }

  test('a store configured for the suite gives it (SoftHSM2 can wrap HMAC keys), and both objects of a material reach every member', async () => {
    await withCluster({ symmetricSuite: CBC }, async (cluster) => {
      assert.deepEqual(await cluster.symmetricSuite(), { suite: CBC });
      assert.equal(await cluster.missingMechanism('SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT'), undefined);
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref, CBC);
      assert.deepEqual([...objectsOn(ref).values()].map((objects) => objects.length), [1, 1], 'the encryption key on a and on b');
      assert.deepEqual([...objectsOn(macRef(ref)).values()].map((objects) => objects.length), [1, 1], 'the MAC key on a and on b');
      assert.deepEqual([...objectsOn(macRef(ref)).values()].flat().sort(), ['secret:extractable', 'secret:extractable']);
      // Each member alone serves it: the copies are the same two keys.
      await takeOut(cluster, 'a');
      const sealed = await cluster.encrypt(ref, Buffer.from('made on b'), AAD, CBC);
      await bringBack(cluster);
      await takeOut(cluster, 'b');
      assert.equal((await cluster.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, AAD, CBC)).toString(), 'made on b');
      await cbcRoundTrip(cluster, ref, 'on a alone');
    });
  });

  test('a material made while a member is away reaches it, both objects, before it serves again; a destroy removes both everywhere', async () => {
    await withCluster({ symmetricSuite: CBC }, async (cluster) => {
      await takeOut(cluster, 'a');
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref, CBC);
      await bringBack(cluster);
      assert.deepEqual([...objectsOn(macRef(ref)).values()].map((objects) => objects.length), [1, 1], 'a got the MAC key by resync');
      await takeOut(cluster, 'b');
      await cbcRoundTrip(cluster, ref, 'a serves the resynced material');
      await bringBack(cluster);
      assert.equal(await cluster.destroySymmetricKey(ref), true);
      assert.deepEqual([...objectsOn(ref).values(), ...objectsOn(macRef(ref)).values()].flat(), []);
    });
  });
});

/** Destroys every object with one of these ids on `tokenLabel`'s token, as a wiped or replaced HSM has none. */
function wipeKeysOn(tokenLabel: string, ids: readonly string[]): void {
  const lease = acquireModule(faulty);
  try {
    const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label: tokenLabel }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      for (const id of ids) {
        lease.pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') }]);
        const found = lease.pkcs11.C_FindObjects(session, 10);
        lease.pkcs11.C_FindObjectsFinal(session);
        for (const handle of found) lease.pkcs11.C_DestroyObject(session, handle);
      }
    } finally {
      lease.pkcs11.C_CloseSession(session);
    }
  } finally {
    lease.release();
  }
}

describe('re-seeding: any member holding a copy can seed a member that lost everything', () => {
  test('each member in turn loses every key object; the other seeds it back, so the member each key was made on is lost once and its copy carries on', async () => {
    await withCluster({}, async (cluster) => {
      const aes = newBackingKeyRef();
      const ec = newBackingKeyRef();
      const hmac = newBackingKeyRef();
      await cluster.generateSymmetricKey(aes);
      const ecSpki = await cluster.generateKeyPair(ec, 'ECC_NIST_P256', 'SIGN_VERIFY');
      await cluster.generateMacKey(hmac, 'HMAC_256');
      const sealed = await cluster.encrypt(aes, Buffer.from('made before any loss'), AAD);
      const message = Buffer.from('signed after the losses');
      const ids = [aes.id, ec.id, hmac.id];
      for (const lost of ['a', 'b'] as const) {
        wipeKeysOn(lost === 'a' ? labelA : labelB, ids);
        assert.deepEqual(objectsOn(aes).get(lost), [], `member ${lost} holds nothing of the key`);
        // Reset and re-admitted, as a replaced HSM is: the resync seeds it from the other member.
        await takeOut(cluster, lost);
        await bringBack(cluster);
        assert.deepEqual(objectsOn(aes).get(lost), ['secret:extractable'], `member ${lost} was seeded with a copy that can seed in turn`);
        assert.deepEqual(objectsOn(ec).get(lost), ['private:extractable', 'public']);
        assert.deepEqual(objectsOn(hmac).get(lost), ['secret:extractable']);
      }
      // Both members now hold copies only (each was wiped once): each alone serves every key.
      for (const away of ['b', 'a'] as const) {
        await takeOut(cluster, away);
        assert.equal((await cluster.decrypt(aes, sealed.iv, sealed.ciphertext, sealed.tag, AAD)).toString(), 'made before any loss');
        await signAndCheck(cluster, ec, ecSpki, 'ecdsa', message);
        const mac = await cluster.mac(hmac, 'HMAC_SHA_256', message);
        assert.equal(await cluster.verifyMac(hmac, 'HMAC_SHA_256', message, mac), true);
        await bringBack(cluster);
      }
    });
  });

  test('two nodes bring the same wiped member back at once: one seeds it, the other waits its turn, and every object is there once', async () => {
    // Two keybridge nodes are two connections to the cluster sharing one store's work claims.
    const storeDir = mkdtempSync(join(tmpdir(), 'keybridge-resync-claims-'));
    const store = SqliteStore.open(join(storeDir, 'claims.db'));
    const asNode = (owner: string): Partial<ClusterConnectOptions> => ({ oneNodeAtATime: (item, work) => whileHoldingClaim(store, item, work, { owner }) });
    const first = await connect(asNode('node-1'));
    const second = await connect(asNode('node-2'));
    try {
      const refs = [newBackingKeyRef(), newBackingKeyRef(), newBackingKeyRef()];
      for (const ref of refs) await first.generateSymmetricKey(ref);
      wipeKeysOn(labelA, refs.map((ref) => ref.id));
      for (const cluster of [first, second]) await takeOut(cluster, 'a');
      await faults.heal();
      // Both nodes' recoveries at the same moment: one holds the claim, the other is told to wait.
      await Promise.all([first.checkNow(), second.checkNow()]);
      const waiting = [first, second].map((cluster) => cluster.status().members.find((m) => m.name === 'a')!);
      assert.equal(waiting.filter((m) => m.state !== 'UNAVAILABLE').length, 1, `one node admitted a first: ${JSON.stringify(waiting)}`);
      assert.match(waiting.find((m) => m.state === 'UNAVAILABLE')?.reason ?? '', /another keybridge node is resyncing this member/u);
      for (const cluster of [first, second]) await bringBack(cluster);
      for (const ref of refs) assert.deepEqual(objectsOn(ref).get('a'), ['secret:extractable'], 'one copy on a, not two');
      for (const cluster of [first, second]) {
        await takeOut(cluster, 'b');
        for (const ref of refs) await roundTrip(cluster, ref, 'a serves alone');
        await bringBack(cluster);
      }
    } finally {
      await faults.heal();
      await first.close();
      await second.close();
      await store.close();
      rmSync(storeDir, { recursive: true, force: true });
    }
  });

  test('a copy is wrappable under the trusted key only: an untrusted key gets CKR_KEY_NOT_WRAPPABLE', async () => {
    await withCluster({}, async (cluster) => {
      const ref = newBackingKeyRef();
      await cluster.generateSymmetricKey(ref);
      const lease = acquireModule(faulty);
      try {
        for (const label of [labelA, labelB]) {
          const session = lease.pkcs11.C_OpenSession(lease.findSlot({ label }), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
          try {
            lease.pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ref.id, 'hex') }]);
            const [key] = lease.pkcs11.C_FindObjects(session, 1);
            lease.pkcs11.C_FindObjectsFinal(session);
            assert.ok(key !== undefined, `the key on ${label}`);
            assertNotWrappableUnderUntrusted(lease.pkcs11, session, key, `the copy on ${label}`);
            const [sensitive] = lease.pkcs11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_SENSITIVE }]);
            assert.equal(sensitive!.value[0], 1, `the copy on ${label} is sensitive`);
          } finally {
            lease.pkcs11.C_CloseSession(session);
          }
        }
      } finally {
        lease.release();
      }
    });
  });
});
