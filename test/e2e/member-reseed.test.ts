// A member of a `keybridge`-replicated cluster lost for good and replaced (issue #21): member a,
// on which the store's keys were made, has its token wiped (its directory deleted) under client
// load; a fresh token with a's label takes its place; `keybridge cluster replace-member` installs
// a new trusted wrapping key with the SO PIN and follows the seeding through the admin API while
// the server copies every key into the new token from member b's copies. Then:
// - no client request failed at any point (b served alone while a was gone and being seeded);
// - `keystore health --replicas` shows every key on both members, none below the quorum;
// - with b's token gone in turn, a alone serves every key: old ciphertexts, signatures, MACs.
// Every token of this server is reached through the fault-injecting module without faults, only
// so that one library instance serves all of them (re-initialising it must not pull a library
// from under another path to it).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';

import {
  CreateKeyCommand,
  DecryptCommand,
  EncryptCommand,
  GenerateMacCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import pkcs11js from 'pkcs11js';

import { runCli } from '../support/cli.js';
import { startFaultyClusterServer, type FaultyCluster } from '../support/faulty-cluster.js';
import type { FaultController } from '../support/faulty-pkcs11.js';
import { runLoops } from '../support/loops.js';
import { findObjects, withRawSession } from '../support/raw-session.js';
import { tokenDirOf as tokenDirUnder } from '../support/softhsm.js';
import { explainingFailure, type TestServer } from '../support/server.js';
import { until } from '../support/until.js';

const run = promisify(execFile);
const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbReseedMember', memberA: 'kb-reseed-a', memberB: 'kb-reseed-b', callTimeoutMs: 2_000, maxRetryIntervalMs: 1_000 };
const SYMMETRIC_KEYS = 40;
const LIMIT = { timeout: 240_000 };

let server: TestServer;
let kms: KMSClient;
let faults: FaultController;
let storeId: string;

before(async () => {
  ({ server, kms, faults, storeId } = await startFaultyClusterServer(CLUSTER, {
    storeName: 'reseed',
    everyTokenFaulty: true,
    settings: { defaultKeyStoreHealth: { intervalMs: 200, maxRetryIntervalMs: 1_000 } },
  }));
});

after(async () => {
  faults?.clear();
  await server?.stop();
});

/** `keybridge …` against the server, with the environment the fault-injecting module needs in the child. */
function cli(args: readonly string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('KEYBRIDGE_FAULTY_') || name === 'SOFTHSM2_CONF')) as Record<string, string>;
  return runCli(['--endpoint-url', server.url, '--data-dir', server.dataDir, '--region', server.region, ...args], { home: server.dataDir, env });
}

function tokenDirOf(label: string): string {
  return tokenDirUnder(join(server.dataDir, 'tokens'), label);
}

function stateOf(member: 'a' | 'b'): string | undefined {
  return server.keybridge.keyStores.health(storeId)?.members.find((m) => m.name === member)?.state;
}

/** How many of these backing keys were generated on the token labelled `label` (CKA_LOCAL: made there, not unwrapped there). */
function madeOn(label: string, backingKeyIds: readonly string[]): number {
  return withRawSession(clusterModule(), label, (pkcs11, session) =>
    backingKeyIds.filter((id) => {
      const [object] = findObjects(pkcs11, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') }], 1);
      if (object === undefined) return false;
      const [local] = pkcs11.C_GetAttributeValue(session, object, [{ type: pkcs11js.CKA_LOCAL }]);
      return local?.value[0] === 1;
    }).length,
  );
}

function clusterModule(): string {
  const definition = JSON.parse(readFileSync(join(server.dataDir, 'clusters', `${CLUSTER.clusterId}.json`), 'utf8')) as { members: Array<{ module: string }> };
  return definition.members[0]!.module;
}

interface ReplicasJson {
  Members: Array<{ Name: string; State: string }>;
  Replicas: { KeyCount: number; AtFullStrength: number; BelowQuorum: number; Quorum: number; PerMember: Array<{ Name: string; Keys: number }>; Keys: Array<{ KeyId: string | null; Replicas: number; Holders: string[] }> };
}

test('member a is wiped for good under load; a new token is seeded from b with 0 client-visible failures, and then serves every key alone', LIMIT, (t) =>
  explainingFailure(t, server, () => wipeAndReseed(t)),
);

async function wipeAndReseed(t: TestContext): Promise<void> {
  // Keys of every kind the cluster replicates, made while both members serve.
  const symmetric: string[] = [];
  for (let i = 0; i < SYMMETRIC_KEYS; i++) symmetric.push((await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId }))).KeyMetadata!.KeyId!);
  const signing = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  const rsa = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata!.KeyId!;
  const hmac = (await kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: storeId, KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
  // A key of the default key store: not the store's, so never in its replica count.
  await kms.send(new CreateKeyCommand({}));
  const keyCount = SYMMETRIC_KEYS + 3;
  const backingIds = (await server.keybridge.deps.store.allBackingKeyIds()).filter((row) => [...symmetric, signing, rsa, hmac].includes(row.keyId)).map((row) => row.backingKeyId);
  assert.equal(backingIds.length, keyCount);
  const madeOnA = madeOn(CLUSTER.memberA, backingIds);
  assert.ok(madeOnA > 0, 'no key was made on member a: wiping it would prove nothing');

  const message = Buffer.from('signed before member a was lost');
  const before = await Promise.all(symmetric.map(async (keyId, i) => ({ keyId, plaintext: `made before the loss ${i}`, blob: (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(`made before the loss ${i}`) }))).CiphertextBlob! })));
  const rsaBlob = (await kms.send(new EncryptCommand({ KeyId: rsa, Plaintext: Buffer.from('rsa before'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).CiphertextBlob!;
  const signature = (await kms.send(new SignCommand({ KeyId: signing, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature!;
  const mac = (await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))).Mac!;

  // Every kind of call, on old and new data, all through the wipe and the seeding.
  const work = runLoops(4, async (loop, round) => {
    const old = before[(loop * 7 + round) % before.length]!;
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: old.blob }))).Plaintext!).toString(), old.plaintext);
    const fresh = await kms.send(new EncryptCommand({ KeyId: old.keyId, Plaintext: Buffer.from(`round ${round}`) }));
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: fresh.CiphertextBlob! }))).Plaintext!).toString(), `round ${round}`);
    if (round % 4 === 0) {
      assert.equal((await kms.send(new VerifyCommand({ KeyId: signing, Message: message, Signature: signature, SigningAlgorithm: 'ECDSA_SHA_256' }))).SignatureValid, true);
      assert.equal((await kms.send(new VerifyMacCommand({ KeyId: hmac, Message: message, Mac: mac, MacAlgorithm: 'HMAC_SHA_256' }))).MacValid, true);
    }
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Member a is lost for good: its token and every key object in it are gone.
    rmSync(tokenDirOf(CLUSTER.memberA), { recursive: true, force: true });
    await until(() => stateOf('a') === 'UNAVAILABLE', 15_000, 'member a to be UNAVAILABLE');
    // A new, empty token stands in for it, with the member's label and the cluster's PINs.
    const pins = join(server.dataDir, 'pins');
    await run('softhsm2-util', [
      '--init-token', '--free', '--label', CLUSTER.memberA,
      '--so-pin', readFileSync(join(pins, `${CLUSTER.clusterId}-so.pin`), 'utf8').trim(),
      '--pin', readFileSync(join(pins, `${CLUSTER.clusterId}.pin`), 'utf8').trim(),
    ], { env: { ...process.env, SOFTHSM2_CONF: join(server.dataDir, 'softhsm2.conf') } });

    const started = performance.now();
    const replaced = await cli(['cluster', 'replace-member', '--cluster-id', CLUSTER.clusterId, '--member', 'a', '--clusters-dir', join(server.dataDir, 'clusters'), '--store-id', storeId, '--timeout', '120']);
    const seedMs = performance.now() - started;
    assert.equal(replaced.code, 0, replaced.stdout + replaced.stderr);
    assert.match(replaced.stdout, /a new trusted wrapping key is on a, b/u);
    assert.match(replaced.stderr, new RegExp(`a is seeded: ${keyCount} of ${keyCount} keys on all 2 members, 0 below the quorum`, 'u'));
    assert.notEqual(stateOf('a'), 'UNAVAILABLE');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await work.stop();
    assert.deepEqual(work.failures, [], `client-visible failures: ${work.failures.slice(0, 3).join(' | ')}`);
    assert.ok(work.done > 40, `only ${work.done} rounds of load`);
    t.diagnostic(`${keyCount} keys (${madeOnA} made on a) seeded into the new member in ${Math.round(seedMs)} ms; ${work.done} rounds of load, 0 failed`);
  } finally {
    await work.stop();
  }

  // The health output: every key on both members, none below the quorum.
  const health = await cli(['--output', 'json', 'keystore', 'health', '--replicas', storeId]);
  assert.equal(health.code, 0, health.stdout + health.stderr);
  const replicas = (JSON.parse(health.stdout) as ReplicasJson).Replicas;
  assert.equal(replicas.KeyCount, keyCount);
  assert.equal(replicas.AtFullStrength, keyCount);
  assert.equal(replicas.BelowQuorum, 0);
  assert.deepEqual(replicas.PerMember, [{ Name: 'a', Keys: keyCount }, { Name: 'b', Keys: keyCount }]);
  assert.ok(replicas.Keys.every((k) => k.KeyId !== null && k.Replicas === 2), 'every key named, on 2 members');
  const table = await cli(['keystore', 'health', '--replicas', storeId]);
  assert.match(table.stdout, new RegExp(`${keyCount} keys, ${keyCount} on all 2 members, 0 below the quorum of 2; a holds ${keyCount}, b holds ${keyCount}`, 'u'));
  assert.match(table.stdout, new RegExp(`^${symmetric[0]}\\s+2/2\\s+a,b\\s+full\\s*$`, 'mu'));

  // The store at full strength: with b's token gone, the new member alone serves every key.
  const bDir = tokenDirOf(CLUSTER.memberB);
  const away = join(server.dataDir, 'member-b-away');
  renameSync(bDir, away);
  try {
    await until(async () => {
      await kms.send(new EncryptCommand({ KeyId: symmetric[0]!, Plaintext: Buffer.from('probe') })).catch(() => undefined);
      return stateOf('b') === 'UNAVAILABLE';
    }, 15_000, 'member b to be UNAVAILABLE');
    for (const { blob, plaintext } of before) {
      assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), plaintext);
    }
    const opened = await kms.send(new DecryptCommand({ KeyId: rsa, CiphertextBlob: rsaBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    assert.equal(Buffer.from(opened.Plaintext!).toString(), 'rsa before');
    const again = await kms.send(new SignCommand({ KeyId: signing, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
    assert.equal((await kms.send(new VerifyCommand({ KeyId: signing, Message: message, Signature: again.Signature!, SigningAlgorithm: 'ECDSA_SHA_256' }))).SignatureValid, true);
    assert.deepEqual(Buffer.from((await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))).Mac!), Buffer.from(mac));
    const belowQuorum = await cli(['--output', 'json', 'keystore', 'health', '--replicas', storeId]);
    assert.equal(belowQuorum.code, 1, 'every key is below the quorum while b is gone');
    assert.equal((JSON.parse(belowQuorum.stdout) as ReplicasJson).Replicas.BelowQuorum, keyCount);
  } finally {
    renameSync(away, bDir);
  }
  await until(() => stateOf('b') === 'ACTIVE' || stateOf('b') === 'DEGRADED', 15_000, 'member b back');
}
