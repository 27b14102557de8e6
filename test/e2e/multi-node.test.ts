// Issue #16's "Done when", end to end: two keybridge processes (nodes A and B) on one PostgreSQL
// database and one SoftHSM2 token directory, driven by the AWS SDK. Anything one node creates or
// changes, the other answers with at once; and when A is killed (-9) under load, clients that retry
// on B see no error and everything A acknowledged works on B.
//
// Both nodes write ONE audit trail in the database; after A's kill it still verifies. Skips only
// when PostgreSQL's server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand,
  CreateAliasCommand,
  CreateCustomKeyStoreCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  RevokeGrantCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { runCli, runCliAgainst } from '../support/cli.js';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { sdkClient } from '../support/kms-client.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { makeDataDir } from '../support/server.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();

/** Retries `check` until it passes or `ms` have gone (a change reaches the other node through NOTIFY). */
async function eventually(check: () => Promise<void>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function rejectsWith(promise: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    return true;
  });
}

describe('two nodes on one PostgreSQL database and one token directory', { skip: missing ?? false }, () => {
  let db: TestDatabase;
  let dataDir: string;
  let a: ChildKeybridge;
  let b: ChildKeybridge;
  let kmsA: KMSClient;
  let kmsB: KMSClient;

  before(async () => {
    db = await createTestDatabase();
    const lab = await sharedPostgresLab();
    dataDir = makeDataDir();
    // One process per node (the PostgreSQL default is one worker per core): A and B are two nodes.
    const node = () => ({ store: postgresStoreConfig(lab, db), workers: 1 });
    // A prepares the embedded token and the operator's credentials; B finds them.
    a = await startChildKeybridge(dataDir, node(), undefined, { node: 'a' });
    b = await startChildKeybridge(dataDir, node(), undefined, { node: 'b' });
    kmsA = sdkClient(a);
    kmsB = sdkClient(b);
  });

  after(async () => {
    kmsA?.destroy();
    kmsB?.destroy();
    await a?.stop();
    await b?.stop();
    await db?.drop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  test('a key created on A encrypts on B, and what B encrypts decrypts on A; aliases and data keys too', async () => {
    const { KeyMetadata } = await kmsA.send(new CreateKeyCommand({ Description: 'made on A' }));
    const keyId = KeyMetadata!.KeyId!;
    const plaintext = randomBytes(64);
    const onB = await kmsB.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
    const back = await kmsA.send(new DecryptCommand({ CiphertextBlob: onB.CiphertextBlob }));
    assert.deepEqual(Buffer.from(back.Plaintext!), plaintext);
    assert.equal(back.KeyId, KeyMetadata!.Arn);

    const aliasName = `alias/multi-node-${randomBytes(4).toString('hex')}`;
    await kmsA.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: keyId }));
    const dataKey = await kmsB.send(new GenerateDataKeyCommand({ KeyId: aliasName, KeySpec: 'AES_256' }));
    const dataKeyOnA = await kmsA.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }));
    assert.deepEqual(Buffer.from(dataKeyOnA.Plaintext!), Buffer.from(dataKey.Plaintext!));
  });

  test('a key disabled on A is refused on B at once', async () => {
    const { KeyMetadata } = await kmsB.send(new CreateKeyCommand({}));
    await kmsA.send(new DisableKeyCommand({ KeyId: KeyMetadata!.KeyId! }));
    await rejectsWith(kmsB.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from('x') })), 'DisabledException');
  });

  test('a principal created on A signs in on B; a grant made on A authorizes on B; revoked on B, refused on A; deleted on A, unknown to B', async () => {
    const name = `grantee-${randomBytes(3).toString('hex')}`;
    const created = await runCliAgainst(a, ['principals', 'create', '--account', '111122223333', '--user', name]);
    assert.equal(created.code, 0, created.stderr);
    const creds = readCredentialsFile(a.credentialsFile).get(name);
    assert.ok(creds !== undefined, 'the principal\'s profile was written');
    const granteeOnA = sdkClient(a, creds);
    const granteeOnB = sdkClient(b, creds);
    try {
      const { KeyMetadata } = await kmsA.send(new CreateKeyCommand({}));
      const keyId = KeyMetadata!.KeyId!;
      const { CiphertextBlob } = await kmsA.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('granted') }));
      // No grant yet: B knows the principal (its key authenticates) but it may not decrypt.
      await eventually(() => rejectsWith(granteeOnB.send(new DecryptCommand({ CiphertextBlob })), 'AccessDeniedException'));

      const { GrantId } = await kmsA.send(
        new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: `arn:aws:iam::111122223333:user/${name}`, Operations: ['Decrypt'] }),
      );
      const decrypted = await granteeOnB.send(new DecryptCommand({ CiphertextBlob }));
      assert.equal(Buffer.from(decrypted.Plaintext!).toString(), 'granted');

      await kmsB.send(new RevokeGrantCommand({ KeyId: keyId, GrantId }));
      await rejectsWith(granteeOnA.send(new DecryptCommand({ CiphertextBlob })), 'AccessDeniedException');

      const deleted = await runCliAgainst(a, ['principals', 'delete', '--arn', `arn:aws:iam::111122223333:user/${name}`]);
      assert.equal(deleted.code, 0, deleted.stderr);
      await eventually(() => rejectsWith(granteeOnB.send(new DecryptCommand({ CiphertextBlob })), 'UnrecognizedClientException'));
    } finally {
      granteeOnA.destroy();
      granteeOnB.destroy();
    }
  });

  test('a custom key store connected on A is connected by B with its own sessions; `keystore health` on either node shows both nodes\' members', { timeout: 120_000 }, async () => {
    const password = readFileSync(join(dataDir, 'pins', 'cluster-kbExampleTwo.pin'), 'utf8').trim();
    const trustAnchor = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
    const { CustomKeyStoreId } = await kmsA.send(
      new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'shared', CloudHsmClusterId: 'cluster-kbExampleTwo', TrustAnchorCertificate: trustAnchor, KeyStorePassword: password }),
    );
    const id = CustomKeyStoreId!;
    await kmsA.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    // Each node reports its own view every few seconds; wait until both say CONNECTED with both members ACTIVE.
    let health: { Node: string; Nodes: Array<{ Node: string; ConnectionState: string; Members: Array<{ Name: string; State: string }> }> } | undefined;
    for (const node of [b, a]) {
      await eventually(async () => {
        const run = await runCliAgainst(node, ['--output', 'json', 'keystore', 'health', id]);
        assert.equal(run.code, 0, run.stderr);
        health = JSON.parse(run.stdout);
        assert.equal(health!.Nodes.length, 2, JSON.stringify(health!.Nodes));
        for (const n of health!.Nodes) {
          assert.equal(n.ConnectionState, 'CONNECTED', `${n.Node}: ${JSON.stringify(n)}`);
          assert.deepEqual(n.Members.map((m) => `${m.Name}:${m.State}`), ['softhsm-a:ACTIVE', 'softhsm-b:ACTIVE']);
        }
      }, 30_000);
    }
    assert.ok(health!.Nodes.some((n) => n.Node === health!.Node), 'the answering node is one of them');
    const table = await runCliAgainst(a, ['keystore', 'health', id]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /NODE\s+MEMBER\s+STATE/);
    assert.equal(table.stdout.split('\n').filter((line) => /softhsm-[ab]\s+ACTIVE/.test(line)).length, 4, table.stdout);

    // A key in the store made on A works on B, through B's own sessions.
    const { KeyMetadata } = await kmsA.send(new CreateKeyCommand({ CustomKeyStoreId: id, Origin: 'AWS_CLOUDHSM' }));
    const { CiphertextBlob } = await kmsB.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from('in the cluster') }));
    assert.equal(Buffer.from((await kmsA.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString(), 'in the cluster');
  });

  // Last: it kills A.
  test('kill -9 of A under load spread over both nodes: clients that retry on B see no error, and everything A acknowledged works on B', async () => {
    const { KeyMetadata } = await kmsA.send(new CreateKeyCommand({ Description: 'load' }));
    const keyId = KeyMetadata!.KeyId!;
    const acknowledged: Array<{ plaintext: Buffer; ciphertext: Uint8Array }> = [];
    const keysMadeOnA: string[] = [];
    const failures: string[] = [];
    let stop = false;
    // A client that spreads its calls over both nodes and, when one fails to answer, retries on the other.
    const encryptAnywhere = async (i: number): Promise<void> => {
      const plaintext = randomBytes(32);
      const order = i % 2 === 0 ? [kmsA, kmsB] : [kmsB, kmsA];
      for (const [n, kms] of order.entries()) {
        try {
          const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
          acknowledged.push({ plaintext, ciphertext: CiphertextBlob! });
          return;
        } catch (err) {
          if (n === order.length - 1) failures.push(`${(err as Error).name}: ${(err as Error).message}`);
        }
      }
    };
    const workers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = w; !stop; i += 4) {
        await encryptAnywhere(i);
        if (i % 16 === w) {
          // Some keys are created on A while it lives; acknowledged ones must work on B afterwards.
          const made = await kmsA.send(new CreateKeyCommand({})).catch(() => undefined);
          if (made !== undefined) keysMadeOnA.push(made.KeyMetadata!.KeyId!);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    a.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await Promise.all(workers);

    assert.deepEqual(failures, [], 'a client that retried on B saw an error');
    assert.ok(acknowledged.length > 20, `too little load to mean anything: ${acknowledged.length} calls`);
    assert.ok(keysMadeOnA.length > 0, 'no key was created on A before it died');
    for (const { plaintext, ciphertext } of acknowledged) {
      const { Plaintext } = await kmsB.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
      assert.deepEqual(Buffer.from(Plaintext!), plaintext);
    }
    for (const id of keysMadeOnA) {
      const { CiphertextBlob } = await kmsB.send(new EncryptCommand({ KeyId: id, Plaintext: Buffer.from('after A died') }));
      assert.equal(Buffer.from((await kmsB.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString(), 'after A died');
    }

    // One chain written by both nodes, intact although A died mid-batch: the operator checks it
    // from the database with the service configuration and the audit signing public key. B's
    // clean stop signs the head.
    await b.stop();
    const verified = await runCli(['--config', join(dataDir, 'child-config-b.json'), 'audit', 'verify', '--public-key', join(dataDir, 'audit-signing-key.pem')]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /OK: \d+ records, chain intact/);
    assert.match(verified.stdout, /signed digests verified/);
  });
});

describe('two nodes started at the same moment on a fresh data directory and an empty database', { skip: missing ?? false }, () => {
  test('they prepare the token, migrate the database and make the HSM\'s internal keys once: secrets sealed on one open on the other, and one signing key signs the trail', { timeout: 180_000 }, async () => {
    const db = await createTestDatabase();
    const lab = await sharedPostgresLab();
    const dataDir = makeDataDir();
    const nodes: ChildKeybridge[] = [];
    const clients: KMSClient[] = [];
    try {
      const config = { store: postgresStoreConfig(lab, db), workers: 1 };
      const started = await Promise.allSettled(['a', 'b'].map((node) => startChildKeybridge(dataDir, config, undefined, { node })));
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
      assert.deepEqual(started.map((s) => (s.status === 'rejected' ? String(s.reason) : 'ready')), ['ready', 'ready']);
      const [a, b] = nodes as [ChildKeybridge, ChildKeybridge];

      // A secret sealed on A (a principal's secret access key) opens on B: one sealing key.
      const name = `first-start-${randomBytes(3).toString('hex')}`;
      const created = await runCliAgainst(a, ['principals', 'create', '--account', '111122223333', '--user', name]);
      assert.equal(created.code, 0, created.stderr);
      const creds = readCredentialsFile(a.credentialsFile).get(name)!;
      const principalOnB = sdkClient(b, creds);
      clients.push(principalOnB, sdkClient(a), sdkClient(b));
      await eventually(() => rejectsWith(principalOnB.send(new CreateKeyCommand({})), 'AccessDeniedException'));

      const { KeyMetadata } = await clients[1]!.send(new CreateKeyCommand({}));
      const { CiphertextBlob } = await clients[2]!.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from('both') }));
      assert.equal(Buffer.from((await clients[1]!.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString(), 'both');

      // Both stop cleanly, each signing the head: with two signing keys one node's digests would not verify.
      await Promise.all(nodes.map((n) => n.stop()));
      const verified = await runCli(['--config', join(dataDir, 'child-config-a.json'), 'audit', 'verify', '--public-key', join(dataDir, 'audit-signing-key.pem')]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.match(verified.stdout, /OK: \d+ records, chain intact/);
      assert.match(verified.stdout, /signed digests verified/);
    } finally {
      for (const c of clients) c.destroy();
      await Promise.all(nodes.map((n) => n.stop()));
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
