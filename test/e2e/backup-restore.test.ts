// Issue #21's restore drill on the embedded default: keys of every kind (symmetric, RSA, ECC, HMAC,
// and one in the example custom key store), ciphertexts, signatures, MACs and data keys made; a
// backup taken with `keybridge backup create` while clients keep encrypting; the data directory
// destroyed; `backup verify`, then `backup restore` into a fresh directory with the PINs kept apart;
// keybridge started there → every ciphertext decrypts, every signature and MAC verifies, the
// custom key store connects, and the audit trail verifies. Nothing else is needed but the backup
// and the PINs. Also: a tampered backup is refused, naming the file.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeCustomKeyStoresCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateMacCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { runCli } from '../support/cli.js';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { sdkClient } from '../support/kms-client.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { until } from '../support/until.js';

const sandbox = mkdtempSync(join(tmpdir(), 'keybridge-backup-'));
const CLUSTER = 'cluster-kbExampleTwo';

after(() => rmSync(sandbox, { recursive: true, force: true }));

interface Made {
  readonly ciphertexts: Array<{ keyId: string; plaintext: Buffer; blob: Uint8Array; algorithm?: 'RSAES_OAEP_SHA_256' }>;
  readonly signatures: Array<{ keyId: string; message: Buffer; signature: Uint8Array }>;
  readonly macs: Array<{ keyId: string; message: Buffer; mac: Uint8Array }>;
  readonly dataKeys: Array<{ plaintext: Buffer; blob: Uint8Array }>;
}

async function makeEverything(kms: KMSClient, storeId: string): Promise<Made> {
  const made: Made = { ciphertexts: [], signatures: [], macs: [], dataKeys: [] };
  const symmetric = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
  const inStore = (await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' }))).KeyMetadata!.KeyId!;
  const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata!.KeyId!;
  const ecc = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!.KeyId!;
  const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!.KeyId!;
  for (const keyId of [symmetric, inStore]) {
    const plaintext = randomBytes(48);
    made.ciphertexts.push({ keyId, plaintext, blob: (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }))).CiphertextBlob! });
    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    made.dataKeys.push({ plaintext: Buffer.from(dataKey.Plaintext!), blob: dataKey.CiphertextBlob! });
  }
  const rsaPlaintext = randomBytes(32);
  made.ciphertexts.push({
    keyId: rsa, plaintext: rsaPlaintext, algorithm: 'RSAES_OAEP_SHA_256',
    blob: (await kms.send(new EncryptCommand({ KeyId: rsa, Plaintext: rsaPlaintext, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).CiphertextBlob!,
  });
  const message = Buffer.from('signed before the backup');
  made.signatures.push({ keyId: ecc, message, signature: (await kms.send(new SignCommand({ KeyId: ecc, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }))).Signature! });
  made.macs.push({ keyId: hmac, message, mac: (await kms.send(new GenerateMacCommand({ KeyId: hmac, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))).Mac! });
  return made;
}

async function checkEverything(kms: KMSClient, made: Made): Promise<void> {
  for (const c of made.ciphertexts) {
    const out = await kms.send(new DecryptCommand({ CiphertextBlob: c.blob, ...(c.algorithm ? { KeyId: c.keyId, EncryptionAlgorithm: c.algorithm } : {}) }));
    assert.deepEqual(Buffer.from(out.Plaintext!), c.plaintext, `ciphertext of ${c.keyId}`);
  }
  for (const d of made.dataKeys) assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: d.blob }))).Plaintext!), d.plaintext);
  for (const s of made.signatures) {
    assert.equal((await kms.send(new VerifyCommand({ KeyId: s.keyId, Message: s.message, Signature: s.signature, SigningAlgorithm: 'ECDSA_SHA_256' }))).SignatureValid, true);
  }
  for (const m of made.macs) {
    assert.equal((await kms.send(new VerifyMacCommand({ KeyId: m.keyId, Message: m.message, Mac: m.mac, MacAlgorithm: 'HMAC_SHA_256' }))).MacValid, true);
  }
}

async function storeState(kms: KMSClient, id: string): Promise<string | undefined> {
  return (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores?.[0]?.ConnectionState;
}

describe('backup and restore drill (embedded default)', () => {
  test('every key works after the data directory is destroyed and the backup restored; the trail verifies', { timeout: 300_000 }, async () => {
    const original = join(sandbox, 'data');
    const backup = join(sandbox, 'backup');
    const keptPins = join(sandbox, 'pins-kept-apart');
    const restored = join(sandbox, 'restored');
    let node: ChildKeybridge | undefined = await startChildKeybridge(mkdirFor(original), {});
    let kms = sdkClient(node);
    let storeId: string;
    let made: Made;
    try {
      const password = readFileSync(join(original, 'pins', `${CLUSTER}.pin`), 'utf8').trim();
      const trustAnchor = readFileSync(join(REPO_ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
      storeId = (await kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'drill', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: trustAnchor, KeyStorePassword: password }))).CustomKeyStoreId!;
      await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
      await until(async () => (await storeState(kms, storeId)) === 'CONNECTED', 30_000, 'the example store to connect');
      made = await makeEverything(kms, storeId);

      // The backup under load: clients keep encrypting (nothing in the token changes) while it runs.
      let stop = false;
      const failures: string[] = [];
      let calls = 0;
      const loadKey = made.ciphertexts[0]!.keyId;
      const load = Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            await kms.send(new EncryptCommand({ KeyId: loadKey, Plaintext: Buffer.from('under load') }));
            calls += 1;
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      });
      const created = await runCli(['--data-dir', original, '--output', 'json', 'backup', 'create', '--out', backup]);
      stop = true;
      await Promise.all(load);
      assert.equal(created.code, 0, created.stderr);
      assert.deepEqual(failures, []);
      assert.ok(calls > 0, 'the load ran during the backup');
      const report = JSON.parse(created.stdout) as { Bytes: number; Milliseconds: number; Manifest: { contents: { keys: number; tokens: string[] }; files: Array<{ path: string }> } };
      assert.equal(report.Manifest.contents.keys, 5);
      assert.deepEqual(report.Manifest.contents.tokens.length, 3, 'the default token and the example cluster\'s two members');
      assert.ok(!report.Manifest.files.some((f) => /pins\/|credentials|\.pin$/.test(f.path)), 'no PIN or credentials file in a backup');
    } finally {
      kms.destroy();
      await node?.stop();
    }

    // The operator kept the PINs apart; the data directory is lost.
    cpSync(join(original, 'pins'), keptPins, { recursive: true });
    rmSync(original, { recursive: true, force: true });

    const verified = await runCli(['backup', 'verify', '--from', backup]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^OK: \d+ files match the manifest; 5 keys/);
    const restoredRun = await runCli(['--data-dir', restored, 'backup', 'restore', '--from', backup, '--pins', keptPins]);
    assert.equal(restoredRun.code, 0, restoredRun.stdout + restoredRun.stderr);

    node = await startChildKeybridge(restored, {});
    kms = sdkClient(node);
    try {
      // The custom key store comes back with the state it had (connected), on its restored members.
      // It reconnects in the background after the start, as after any restart; until then its keys
      // are Unavailable (KMSInvalidStateException), as in AWS KMS while a store is CONNECTING.
      await until(async () => (await storeState(kms, storeId)) === 'CONNECTED', 30_000, 'the restored store to connect');
      await checkEverything(kms, made);
      const audit = await runCli(['--data-dir', restored, 'audit', 'verify']);
      assert.equal(audit.code, 0, audit.stdout);
      assert.match(audit.stdout, /OK: \d+ records, chain intact/);
    } finally {
      kms.destroy();
      await node.stop();
    }
  });

  test('a backup with one byte changed, or a file added, is refused by verify and restore, naming the file', { timeout: 120_000 }, async () => {
    const dataDir = mkdirFor(join(sandbox, 'small'));
    const node = await startChildKeybridge(dataDir, {});
    const kms = sdkClient(node);
    try {
      await kms.send(new CreateKeyCommand({}));
    } finally {
      kms.destroy();
      await node.stop();
    }
    const backup = join(sandbox, 'small-backup');
    assert.equal((await runCli(['--data-dir', dataDir, 'backup', 'create', '--out', backup])).code, 0);
    const db = join(backup, 'keybridge.db');
    const bytes = readFileSync(db);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0x01, bytes.length - 1);
    writeFileSync(db, bytes);
    writeFileSync(join(backup, 'extra.txt'), 'not from keybridge');
    const verified = await runCli(['backup', 'verify', '--from', backup]);
    assert.equal(verified.code, 1);
    assert.match(verified.stdout, /keybridge\.db: its contents differ from the manifest/);
    assert.match(verified.stdout, /extra\.txt: not in the manifest/);
    const restore = await runCli(['--data-dir', join(sandbox, 'small-restored'), 'backup', 'restore', '--from', backup, '--pins', join(dataDir, 'pins')]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /does not verify; nothing was restored/);
  });
});

/** A new data directory (the child's configuration file is written into it). */
function mkdirFor(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}
