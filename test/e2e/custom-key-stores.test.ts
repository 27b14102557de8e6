// Custom key stores end to end on real SoftHSM2 tokens: the AWS API through the JS SDK and the
// AWS CLI, the connection state machine, ConnectionErrorCodes from real conditions, keys that
// become Unavailable and come back, and a restart with a connected store.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisconnectCustomKeyStoreCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UpdateCustomKeyStoreCommand,
  type ConnectionStateType,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { awsCliMissing, awsKms, sdkClient } from '../support/kms-client.js';
import { makeDataDir, postgresMetadataDump, startServer, type TestServer } from '../support/server.js';
import { REPO_ROOT } from '../support/repo-root.js';

const CLUSTER = 'cluster-kbExampleTwo';

const ROOT = REPO_ROOT;
const EXAMPLE_DIR = join(ROOT, 'hsm-config', 'clusters');
const TRUST_ANCHOR = readFileSync(join(EXAMPLE_DIR, 'example-softhsm-ca.pem'), 'utf8');

/** The example cluster plus clusters built to fail in specific, real ways. */
function writeClusters(dir: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(EXAMPLE_DIR, 'example-softhsm.json'), join(dir, 'example-softhsm.json'));
  copyFileSync(join(EXAMPLE_DIR, 'example-softhsm-ca.pem'), join(dir, 'example-softhsm-ca.pem'));
  const module = '/usr/lib/softhsm/libsofthsm2.so';
  const define = (file: string, clusterId: string, members: Array<[string, string, string?]>, minConnect: number) =>
    writeFileSync(
      join(dir, file),
      JSON.stringify({
        clusterId,
        members: members.map(([name, tokenLabel, mod]) => ({ name, module: mod ?? module, tokenLabel, profile: 'softhsm2' })),
        minActiveMembersToConnect: minConnect,
        minActiveMembersForCreateKey: 2,
      }),
    );
  // No such tokens anywhere.
  define('missing.json', 'cluster-kbMissingTokens', [['a', 'kb-no-such-a'], ['b', 'kb-no-such-b']], 1);
  // The library itself is missing.
  define('no-module.json', 'cluster-kbNoModuleHere', [['a', 'kb-example-a', '/nonexistent/libpkcs11.so']], 1);
  // One real member, one missing, and both are needed to connect.
  define('half.json', 'cluster-kbHalfPresent', [['a', 'kb-example-a'], ['b', 'kb-no-such-b']], 2);
  // One real member only: connects, but CreateKey needs two.
  define('single.json', 'cluster-kbSingleMember', [['a', 'kb-example-b']], 1);
  // The example cluster's first member alone: it holds every key the example cluster made.
  define('member-a.json', 'cluster-kbOnlyMemberA', [['a', 'kb-example-a']], 1);
  // A token of its own (created at start, same crypto-user PIN): it never holds the store's keys.
  writeFileSync(
    join(dir, 'unrelated.json'),
    JSON.stringify({
      clusterId: UNRELATED,
      members: [{ name: 'c', module, tokenLabel: 'kb-unrelated-c', profile: 'softhsm2' }],
      minActiveMembersToConnect: 1,
      embeddedSoftHsm: true,
    }),
  );
}

const UNRELATED = 'cluster-kbUnrelatedOne';

/** The example cluster and the unrelated one share a crypto-user PIN (written before the start). */
function writeSharedPin(dir: string): void {
  const pins = join(dir, 'pins');
  mkdirSync(pins, { recursive: true, mode: 0o700 });
  const pin = `${randomBytes(16).toString('hex')}\n`;
  for (const clusterId of [CLUSTER, UNRELATED]) writeFileSync(join(pins, `${clusterId}.pin`), pin, { mode: 0o600 });
}

let server: TestServer;
let kms: KMSClient;
let dataDir: string;
let clustersDir: string;
let password: string;

async function startOn(dir: string): Promise<TestServer> {
  return startServer({ dataDir: dir, settings: { clustersDir, deletionSweepIntervalMs: 3_600_000 } });
}

async function state(id: string): Promise<{ state: ConnectionStateType | undefined; code: string | undefined }> {
  const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }));
  return { state: CustomKeyStores?.[0]?.ConnectionState, code: CustomKeyStores?.[0]?.ConnectionErrorCode };
}

async function waitFor(id: string, wanted: ConnectionStateType, client: KMSClient = kms): Promise<{ state: string | undefined; code: string | undefined }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { CustomKeyStores } = await client.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }));
    const entry = CustomKeyStores?.[0];
    if (entry?.ConnectionState === wanted) return { state: entry.ConnectionState, code: entry.ConnectionErrorCode };
    if (entry?.ConnectionState === 'FAILED' && wanted !== 'FAILED') {
      assert.fail(`store ${id} FAILED with ${entry.ConnectionErrorCode} while waiting for ${wanted}`);
    }
    if (Date.now() > deadline) assert.fail(`store ${id} is ${entry?.ConnectionState}, not ${wanted}, after 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rejects(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, name, err.message);
    assert.ok((err.$metadata?.httpStatusCode ?? 0) < 500, `${name} must be a client error`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

async function createStore(name: string, clusterId = CLUSTER, pin = password): Promise<string> {
  const { CustomKeyStoreId } = await kms.send(
    new CreateCustomKeyStoreCommand({ CustomKeyStoreName: name, CloudHsmClusterId: clusterId, TrustAnchorCertificate: TRUST_ANCHOR, KeyStorePassword: pin }),
  );
  assert.match(CustomKeyStoreId!, /^cks-[0-9a-f]{17}$/);
  return CustomKeyStoreId!;
}

before(async () => {
  dataDir = makeDataDir();
  clustersDir = join(dataDir, 'clusters');
  writeClusters(clustersDir);
  writeSharedPin(dataDir);
  server = await startOn(dataDir);
  kms = sdkClient(server);
  password = readFileSync(join(dataDir, 'pins', `${CLUSTER}.pin`), 'utf8').trim();
});

after(async () => {
  kms?.destroy();
  await server?.destroy();
});

describe('CreateCustomKeyStore and DescribeCustomKeyStores', () => {
  test('a new store is DISCONNECTED and described with AWS fields; a same-properties retry returns it', async () => {
    const id = await createStore('describe-me');
    const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'describe-me' }));
    const entry = CustomKeyStores![0]!;
    assert.equal(entry.CustomKeyStoreId, id);
    assert.equal(entry.CustomKeyStoreName, 'describe-me');
    assert.equal(entry.CloudHsmClusterId, CLUSTER);
    assert.equal(entry.TrustAnchorCertificate, TRUST_ANCHOR);
    assert.equal(entry.ConnectionState, 'DISCONNECTED');
    assert.equal(entry.ConnectionErrorCode, undefined);
    assert.equal(entry.CustomKeyStoreType, 'AWS_CLOUDHSM');
    assert.ok(entry.CreationDate instanceof Date && Math.abs(entry.CreationDate.getTime() - Date.now()) < 60_000);
    assert.equal(await createStore('describe-me'), id, 'the same properties give the same store');
    await rejects(
      kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'describe-me', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: TRUST_ANCHOR, KeyStorePassword: 'another-password' })),
      'CustomKeyStoreNameInUseException',
    );
    await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await rejects(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id })), 'CustomKeyStoreNotFoundException');
  });

  test('bad requests are refused with the error AWS names, and create nothing', async () => {
    const count = async () => (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.length;
    const before_ = await count();
    const base = { CustomKeyStoreName: 'bad', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: TRUST_ANCHOR, KeyStorePassword: password };
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, CloudHsmClusterId: 'cluster-kbNotDefinedHere' })), 'CloudHsmClusterNotFoundException');
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, TrustAnchorCertificate: 'not a certificate' })), 'IncorrectTrustAnchorException');
    const otherCa = readFileSync(join(ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8').replace(/[A-Za-z](?=[A-Za-z0-9+/]{20}\n)/, (c) => (c === 'A' ? 'B' : 'A'));
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, TrustAnchorCertificate: otherCa })), 'IncorrectTrustAnchorException');
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, KeyStorePassword: 'short' })), 'ValidationException', /keyStorePassword/);
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, KeyStorePassword: undefined })), 'ValidationException', /keyStorePassword/);
    // An external key store takes the XksProxy* members, not a cluster's.
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreType: 'EXTERNAL_KEY_STORE' })), 'ValidationException', /CloudHsmClusterId is valid only for a custom key store of type AWS_CLOUDHSM/);
    await rejects(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
    await rejects(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'no-such-store' })), 'CustomKeyStoreNotFoundException');
    await rejects(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
    assert.equal(await count(), before_);
  });
});

describe('a connected store and its keys', () => {
  let storeId: string;
  let keyId: string;
  let blob: Uint8Array;

  test('connect returns at once and the store reaches CONNECTED', async () => {
    storeId = await createStore('main');
    await rejects(
      kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM' })),
      'CustomKeyStoreInvalidStateException',
      /DISCONNECTED/,
    );
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    const first = (await state(storeId)).state;
    assert.ok(first === 'CONNECTING' || first === 'CONNECTED', `state right after connect: ${first}`);
    await waitFor(storeId, 'CONNECTED');
    // Connecting a connected store changes nothing.
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    assert.equal((await state(storeId)).state, 'CONNECTED');
    await rejects(kms.send(new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'second', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: TRUST_ANCHOR, KeyStorePassword: password })), 'CloudHsmClusterInUseException');
  });

  test('CreateKey in the store: Origin AWS_CLOUDHSM, store and cluster in the metadata', async () => {
    await rejects(kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId })), 'ValidationException', /AWS_CLOUDHSM/);
    await rejects(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM' })), 'ValidationException', /CustomKeyStoreId/);
    await rejects(kms.send(new CreateKeyCommand({ CustomKeyStoreId: 'cks-00000000000000000', Origin: 'AWS_CLOUDHSM' })), 'CustomKeyStoreNotFoundException');
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM', Description: 'in the cluster' }));
    keyId = KeyMetadata!.KeyId!;
    assert.equal(KeyMetadata!.Origin, 'AWS_CLOUDHSM');
    assert.equal(KeyMetadata!.CustomKeyStoreId, storeId);
    assert.equal(KeyMetadata!.CloudHsmClusterId, CLUSTER);
    assert.equal(KeyMetadata!.KeyState, 'Enabled');
    assert.equal(KeyMetadata!.CurrentKeyMaterialId, undefined, 'AWS reports no KeyMaterialId for custom key store keys');
  });

  test('Encrypt, Decrypt, ReEncrypt, GenerateDataKey(+WithoutPlaintext) and GenerateRandom run in the cluster', async () => {
    const plaintext = Buffer.from('kept in the cluster');
    ({ CiphertextBlob: blob } = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: { app: 'cks' } }))) as { CiphertextBlob: Uint8Array });
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { app: 'cks' } }));
    assert.deepEqual(Buffer.from(decrypted.Plaintext!), plaintext);
    assert.equal(decrypted.KeyId, `arn:aws:kms:us-east-1:111122223333:key/${keyId}`);

    const defaultKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const toDefault = await kms.send(new ReEncryptCommand({ CiphertextBlob: blob, SourceEncryptionContext: { app: 'cks' }, DestinationKeyId: defaultKey }));
    const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: toDefault.CiphertextBlob, DestinationKeyId: keyId }));
    assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob }))).Plaintext!), plaintext);

    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    assert.equal(dk.Plaintext!.length, 32);
    assert.deepEqual(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))).Plaintext!), Buffer.from(dk.Plaintext!));
    const dkw = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, NumberOfBytes: 24 }));
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: dkw.CiphertextBlob }))).Plaintext!.length, 24);

    const random = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 64, CustomKeyStoreId: storeId }));
    assert.equal(random.Plaintext!.length, 64);
    await rejects(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: 'cks-00000000000000000' })), 'CustomKeyStoreNotFoundException');
  });

  test('the name may change while connected; the password and cluster may not', async () => {
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, NewCustomKeyStoreName: 'main-renamed' }));
    const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: 'main-renamed' }));
    assert.equal(CustomKeyStores![0]!.CustomKeyStoreId, storeId);
    await rejects(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, KeyStorePassword: 'something-else' })), 'CustomKeyStoreInvalidStateException');
    await rejects(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException');
  });

  test('the cluster may change only to one that holds the store\'s keys', async () => {
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'DISCONNECTED');
    await rejects(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: 'cluster-kbNotDefinedHere' })), 'CloudHsmClusterNotFoundException');
    // A token that never held the store's keys.
    await rejects(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: UNRELATED })), 'CloudHsmClusterNotRelatedException');
    await rejects(kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: 'cluster-kbMissingTokens' })), 'CloudHsmClusterNotActiveException');
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: 'cluster-kbOnlyMemberA' }));
    assert.equal((await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores![0]!.CloudHsmClusterId, 'cluster-kbOnlyMemberA');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.CloudHsmClusterId, 'cluster-kbOnlyMemberA');
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, CloudHsmClusterId: CLUSTER }));
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'CONNECTED');
  });

  test('a restart reconnects the store by itself and its keys keep working', async () => {
    kms.destroy();
    await server.stop();
    server = await startOn(dataDir);
    kms = sdkClient(server);
    await waitFor(storeId, 'CONNECTED');
    const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { app: 'cks' } }));
    assert.equal(Buffer.from(decrypted.Plaintext!).toString(), 'kept in the cluster');
  });

  test('disconnected: keys are Unavailable, crypto fails, management works, Enable/Disable apply on return', async () => {
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'DISCONNECTED');
    await rejects(kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException');
    const described = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
    assert.equal(described.KeyState, 'Unavailable');
    assert.equal(described.Enabled, false);
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /is unavailable\.$/);
    await rejects(kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { app: 'cks' } })), 'KMSInvalidStateException', /is unavailable\.$/);
    await rejects(kms.send(new GenerateRandomCommand({ NumberOfBytes: 8, CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException');
    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'while', TagValue: 'unavailable' }] }));
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'Unavailable');

    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'CONNECTED');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'Disabled');
    await rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'DisabledException');
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { app: 'cks' } }));
    assert.equal(Buffer.from(again.Plaintext!).toString(), 'kept in the cluster');
  });

  test('a store with keys cannot be deleted; PendingDeletion survives a disconnect; then the store goes', async () => {
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'DISCONNECTED');
    await rejects(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreHasCMKsException');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'CONNECTED');
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitFor(storeId, 'DISCONNECTED');
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'PendingDeletion');
    server.clock.advance(8 * 24 * 3600 * 1000);
    const deleted = await server.keybridge.sweeper.sweepOnce();
    assert.ok(deleted.includes(keyId));
    await rejects(kms.send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException');
    await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await rejects(kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreNotFoundException');
  });
});

describe('ConnectionErrorCode from real conditions', () => {
  async function failsWith(clusterId: string, code: string, pin = password): Promise<string> {
    const id = await createStore(`fails-${code}-${clusterId}`, clusterId, pin);
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    const result = await waitFor(id, 'FAILED');
    assert.equal(result.code, code);
    // FAILED refuses a connect until it is disconnected, as AWS does.
    await rejects(kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })), 'CustomKeyStoreInvalidStateException');
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    const after_ = await waitFor(id, 'DISCONNECTED');
    assert.equal(after_.code, undefined);
    return id;
  }

  test('wrong password → INVALID_CREDENTIALS; fixed while disconnected, it connects', async () => {
    const id = await failsWith(CLUSTER, 'INVALID_CREDENTIALS', 'wrong-password-123');
    // The example cluster is in use by this store now; free it afterwards.
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: id, KeyStorePassword: password }));
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await waitFor(id, 'CONNECTED');
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await waitFor(id, 'DISCONNECTED');
    await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id }));
  });

  test('tokens that do not exist → CLUSTER_NOT_FOUND', async () => {
    await failsWith('cluster-kbMissingTokens', 'CLUSTER_NOT_FOUND');
  });

  test('a PKCS#11 library that does not exist → CLUSTER_NOT_FOUND', async () => {
    await failsWith('cluster-kbNoModuleHere', 'CLUSTER_NOT_FOUND');
  });

  test('too few reachable members → INSUFFICIENT_CLOUDHSM_HSMS', async () => {
    await failsWith('cluster-kbHalfPresent', 'INSUFFICIENT_CLOUDHSM_HSMS');
  });

  test('connected with one member, CreateKey needs two → CloudHsmClusterInvalidConfigurationException', async () => {
    const id = await createStore('single-member', 'cluster-kbSingleMember');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await waitFor(id, 'CONNECTED');
    await rejects(kms.send(new CreateKeyCommand({ CustomKeyStoreId: id, Origin: 'AWS_CLOUDHSM' })), 'CloudHsmClusterInvalidConfigurationException');
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    await waitFor(id, 'DISCONNECTED');
  });
});

describe('secrets', () => {
  test('the KeyStorePassword is nowhere in the logs or the data directory', async () => {
    const needles = [password, Buffer.from(password).toString('base64'), Buffer.from(password).toString('hex')];
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        // The PIN files are where the operator keeps it for the examples; not keybridge's copies.
        else if (!path.endsWith(`${CLUSTER}.pin`) && !path.endsWith(`${UNRELATED}.pin`)) files.push(path);
      }
    };
    walk(dataDir);
    // The metadata: the SQLite file among them, or (KEYBRIDGE_TEST_STORE=postgres) the database's rows.
    const postgresRows = await postgresMetadataDump(dataDir);
    assert.ok((files.some((f) => f.endsWith('keybridge.db')) || postgresRows !== undefined) && files.some((f) => f.endsWith('keybridge.log')));
    for (const file of files) {
      const content = readFileSync(file);
      for (const needle of needles) assert.equal(content.includes(needle), false, `${file} contains the password`);
    }
    for (const needle of needles) assert.equal(postgresRows?.includes(needle) ?? false, false, 'the PostgreSQL metadata contains the password');
  });
});

describe('the AWS CLI drives custom key stores', () => {
  test('create, connect, describe, create-key, encrypt, decrypt, disconnect, delete', { skip: awsCliMissing }, async () => {
    const cert = join(dataDir, 'trust-anchor.pem');
    writeFileSync(cert, TRUST_ANCHOR);
    const created = await awsKms(server, ['create-custom-key-store', '--custom-key-store-name', 'from-cli', '--cloud-hsm-cluster-id', CLUSTER, '--trust-anchor-certificate', `file://${cert}`, '--key-store-password', password]);
    assert.equal(created.code, 0, created.stderr);
    const id = created.json.CustomKeyStoreId as string;
    assert.equal((await awsKms(server, ['connect-custom-key-store', '--custom-key-store-id', id])).code, 0);
    await waitFor(id, 'CONNECTED');
    const described = await awsKms(server, ['describe-custom-key-stores', '--custom-key-store-id', id]);
    assert.equal(described.json.CustomKeyStores[0].ConnectionState, 'CONNECTED');
    const key = await awsKms(server, ['create-key', '--custom-key-store-id', id, '--origin', 'AWS_CLOUDHSM']);
    assert.equal(key.code, 0, key.stderr);
    assert.equal(key.json.KeyMetadata.CloudHsmClusterId, CLUSTER);
    const input = join(dataDir, 'cli-plain.bin');
    writeFileSync(input, 'through the CLI');
    const encrypted = await awsKms(server, ['encrypt', '--key-id', key.json.KeyMetadata.KeyId, '--plaintext', `fileb://${input}`]);
    const blobFile = join(dataDir, 'cli-blob.bin');
    writeFileSync(blobFile, Buffer.from(encrypted.json.CiphertextBlob, 'base64'));
    const decrypted = await awsKms(server, ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`]);
    assert.equal(Buffer.from(decrypted.json.Plaintext, 'base64').toString(), 'through the CLI');
    assert.equal((await awsKms(server, ['disconnect-custom-key-store', '--custom-key-store-id', id])).code, 0);
    await waitFor(id, 'DISCONNECTED');
    const refused = await awsKms(server, ['delete-custom-key-store', '--custom-key-store-id', id]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /CustomKeyStoreHasCMKsException/);
  });
});
