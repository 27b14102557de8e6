// keybridge A uses keybridge B as its external key store (issue #15): B (its own process) is the
// XKS proxy over HTTPS, with a certificate for `localhost` from a throw-away CA that A trusts; A
// (in this process) is the XKS client, driven by the real AWS CLI and the JS SDK exactly as AWS
// KMS users drive AWS KMS. A reaches B's proxy port through `externalKeyStores.proxyPort`: the
// endpoint stays AWS's `https://localhost` (no port, as AWS's pattern requires).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, CreateKeyCommand, DecryptCommand, DeleteCustomKeyStoreCommand, DescribeCustomKeyStoresCommand,
  DescribeKeyCommand, DisconnectCustomKeyStoreCommand, EnableKeyRotationCommand, EncryptCommand, GenerateDataKeyCommand, GenerateDataKeyPairCommand, GenerateRandomCommand, ReEncryptCommand,
  ScheduleKeyDeletionCommand, UpdateCustomKeyStoreCommand, type KMSClient,
} from '@aws-sdk/client-kms';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { freePort } from '../support/free-port.js';
import { awsCliMissing, awsKms, sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { issueCertificate } from '../support/test-ca.js';
import { until } from '../support/until.js';
import { xksAdmin } from '../support/xks-client.js';

const URI_PATH = '/site-a/kms/xks/v1';
const EXTERNAL_KEY = 'site-a-key-1';
const SECOND_KEY = 'site-a-key-2';
const ENDPOINT = 'https://localhost';

let certDir: string;
let bDir: string;
let b: ChildKeybridge;
let bProxyPort: number;
let bKmsPort: number;
let a: TestServer;
let kms: KMSClient;
let credential: { AccessKeyId: string; RawSecretAccessKey: string };
let storeId: string;
let keyId: string;

/** B's admin API (it is another process: signed HTTP, as the operator's CLI would call it). */
async function bAdmin(operation: string, body: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await xksAdmin(b, operation, body);
  assert.equal(res.status, 200, `${operation} on B: ${res.body}`);
  return res.json as Record<string, any>;
}

async function startB(): Promise<void> {
  b = await startChildKeybridge(
    bDir,
    { xksProxy: { enabled: true, host: '127.0.0.1', port: bProxyPort, tls: { certFile: join(certDir, 'proxy.pem'), keyFile: join(certDir, 'proxy.key') } } },
    bKmsPort,
  );
}

async function storeState(): Promise<{ state: string | undefined; code: string | undefined }> {
  const entry = (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0];
  return { state: entry?.ConnectionState, code: entry?.ConnectionErrorCode };
}

async function waitForState(state: string): Promise<{ state: string | undefined; code: string | undefined }> {
  let last = await storeState();
  await until(async () => (last = await storeState()).state === state, 20_000, `the external key store to be ${state} (last: ${JSON.stringify(last)})`, 50);
  return last;
}

async function rejectsWith(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, name, err.message);
    assert.ok((err.$metadata?.httpStatusCode ?? 0) < 500, `${name} must be a client error`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'keybridge-xks-e2e-'));
  const ca = issueCertificate(certDir, 'ca', 'keybridge XKS test CA');
  issueCertificate(certDir, 'proxy', 'localhost', ca, 'DNS:localhost');
  bDir = join(certDir, 'b');
  [bProxyPort, bKmsPort] = [await freePort(), await freePort()];
  mkdirSync(bDir);
  await startB();
  credential = (await bAdmin('CreateXksCredential', { UriPath: URI_PATH })) as typeof credential;
  await bAdmin('CreateXksKey', { UriPath: URI_PATH, XksKeyId: EXTERNAL_KEY });
  await bAdmin('CreateXksKey', { UriPath: URI_PATH, XksKeyId: SECOND_KEY });
  a = await startServer({ settings: { externalKeyStores: { proxyPort: bProxyPort, proxyTimeoutMs: 3_000, trustedCaFile: ca.cert } } });
  kms = sdkClient(a);
});

after(async () => {
  kms?.destroy();
  await a?.destroy();
  await b?.stop();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe('an external key store on keybridge B, through the AWS CLI against keybridge A', () => {
  test('create-custom-key-store (EXTERNAL_KEY_STORE), connect, DescribeCustomKeyStores shows the proxy configuration and never the secret', { skip: awsCliMissing }, async () => {
    const created = await awsKms(a, [
      'create-custom-key-store', '--custom-key-store-name', 'site-a', '--custom-key-store-type', 'EXTERNAL_KEY_STORE',
      '--xks-proxy-connectivity', 'PUBLIC_ENDPOINT', '--xks-proxy-uri-endpoint', ENDPOINT, '--xks-proxy-uri-path', URI_PATH,
      '--xks-proxy-authentication-credential', `AccessKeyId=${credential.AccessKeyId},RawSecretAccessKey=${credential.RawSecretAccessKey}`,
    ]);
    assert.equal(created.code, 0, created.stderr);
    storeId = created.json.CustomKeyStoreId;
    assert.match(storeId, /^cks-[0-9a-f]{17}$/);
    assert.equal((await storeState()).state, 'DISCONNECTED');

    const connected = await awsKms(a, ['connect-custom-key-store', '--custom-key-store-id', storeId]);
    assert.equal(connected.code, 0, connected.stderr);
    await waitForState('CONNECTED');

    const described = await awsKms(a, ['describe-custom-key-stores', '--custom-key-store-id', storeId]);
    const entry = described.json.CustomKeyStores[0];
    assert.equal(entry.CustomKeyStoreType, 'EXTERNAL_KEY_STORE');
    assert.deepEqual(entry.XksProxyConfiguration, { Connectivity: 'PUBLIC_ENDPOINT', AccessKeyId: credential.AccessKeyId, UriEndpoint: ENDPOINT, UriPath: URI_PATH });
    assert.equal(entry.CloudHsmClusterId, undefined);
    assert.ok(!described.stdout.includes(credential.RawSecretAccessKey), 'the secret is never returned');
  });

  test('create-key --origin EXTERNAL_KEY_STORE; describe-key shows XksKeyConfiguration', { skip: awsCliMissing }, async () => {
    const created = await awsKms(a, ['create-key', '--origin', 'EXTERNAL_KEY_STORE', '--custom-key-store-id', storeId, '--xks-key-id', EXTERNAL_KEY]);
    assert.equal(created.code, 0, created.stderr);
    keyId = created.json.KeyMetadata.KeyId;
    const described = await awsKms(a, ['describe-key', '--key-id', keyId]);
    const md = described.json.KeyMetadata;
    assert.equal(md.Origin, 'EXTERNAL_KEY_STORE');
    assert.equal(md.CustomKeyStoreId, storeId);
    assert.deepEqual(md.XksKeyConfiguration, { Id: EXTERNAL_KEY });
    assert.equal(md.KeyState, 'Enabled');
    assert.equal(md.CloudHsmClusterId, undefined);
  });

  test('encrypt and decrypt with the AWS CLI; the blob decrypts only through the proxy', { skip: awsCliMissing }, async () => {
    const plaintext = Buffer.from('sovereign data, twice encrypted');
    const encrypted = await awsKms(a, ['encrypt', '--key-id', keyId, '--plaintext', plaintext.toString('base64'), '--encryption-context', 'purpose=e2e']);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    const blob = Buffer.from(encrypted.json.CiphertextBlob, 'base64');
    assert.equal(blob[0], 2, 'format version 2 (docs/ciphertext-format.md)');
    const decrypted = await awsKms(a, ['decrypt', '--ciphertext-blob', encrypted.json.CiphertextBlob, '--encryption-context', 'purpose=e2e']);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.equal(Buffer.from(decrypted.json.Plaintext, 'base64').toString(), plaintext.toString());
    assert.equal(decrypted.json.KeyId, encrypted.json.KeyId);

    // Another encryption context: the proxy's AAD and the inner layer both refuse.
    const wrong = await awsKms(a, ['decrypt', '--ciphertext-blob', encrypted.json.CiphertextBlob, '--encryption-context', 'purpose=other']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /KMSInvalidStateException/);

    // The inner layer alone (a version-1 blob under the key's own HSM key) is never accepted.
    const inner = Buffer.concat([Buffer.from([1, 1]), blob.subarray(2, 18), Buffer.alloc(32 + 12 + 16 + 16, 7)]);
    const innerOnly = await awsKms(a, ['decrypt', '--ciphertext-blob', inner.toString('base64')]);
    assert.notEqual(innerOnly.code, 0);
    assert.match(innerOnly.stderr, /InvalidCiphertextException/);
  });
});

describe('the SDK through the external key store', () => {
  test('GenerateDataKey and ReEncrypt (to a default-store key and back)', async () => {
    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }));
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(dataKey.Plaintext!));
    const local = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    const moved = await kms.send(new ReEncryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, DestinationKeyId: local }));
    const back = await kms.send(new ReEncryptCommand({ CiphertextBlob: moved.CiphertextBlob, DestinationKeyId: keyId }));
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: back.CiphertextBlob }));
    assert.deepEqual(Buffer.from(again.Plaintext!), Buffer.from(dataKey.Plaintext!));
  });

  test('both trails show the calls: A the KMS operations, B the proxy calls with A\'s request id and key ARN', async () => {
    const res = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('traced') }));
    const requestId = res.$metadata.requestId!;
    const inA = await auditRecordsWhere<{ eventName: string }>(a.dataDir, '$.requestID', requestId);
    assert.deepEqual(inA.map((r) => r.eventName), ['Encrypt']);
    let inB: Array<{ eventName: string; eventSource: string; requestParameters: { requestMetadata: Record<string, string>; externalKeyId: string } }> = [];
    await until(async () => (inB = await auditRecordsWhere(b.dataDir, '$.requestParameters.requestMetadata.kmsRequestId', requestId)).length > 0, 5_000, "B's record");
    assert.equal(inB[0]!.eventSource, 'xks-proxy.keybridge');
    assert.equal(inB[0]!.eventName, 'Encrypt');
    assert.equal(inB[0]!.requestParameters.externalKeyId, EXTERNAL_KEY);
    assert.equal(inB[0]!.requestParameters.requestMetadata.kmsOperation, 'Encrypt');
    assert.equal(inB[0]!.requestParameters.requestMetadata.kmsKeyArn, (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn);
  });

  test("CreateKey's checks: the same external key again, a missing one, a disabled one", async () => {
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: EXTERNAL_KEY })), 'XksKeyAlreadyInUseException');
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'no-such-key' })), 'XksKeyNotFoundException');
    await bAdmin('DisableXksKey', { XksKeyId: SECOND_KEY });
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: SECOND_KEY })), 'XksKeyInvalidConfigurationException', /status is DISABLED/);
    await bAdmin('EnableXksKey', { XksKeyId: SECOND_KEY });
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId })), 'ValidationException', /XksKeyId/);
    await rejectsWith(kms.send(new EnableKeyRotationCommand({ KeyId: keyId })), 'UnsupportedOperationException');
    // Operations AWS KMS does not offer on keys in custom key stores.
    await rejectsWith(kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' })), 'UnsupportedOperationException');
  });

  test('B disables the external key: A answers KMSInvalidStateException with AWS\'s message; enabling restores it', async () => {
    await bAdmin('DisableXksKey', { XksKeyId: EXTERNAL_KEY });
    try {
      await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /not enabled in the external key manager/);
    } finally {
      await bAdmin('EnableXksKey', { XksKeyId: EXTERNAL_KEY });
    }
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  });
});

describe('configuration errors and connection states', () => {
  test('wrong credentials, an unknown path and a VPC endpoint service are refused at creation with AWS\'s errors', async () => {
    const base = { CustomKeyStoreType: 'EXTERNAL_KEY_STORE' as const, XksProxyConnectivity: 'PUBLIC_ENDPOINT' as const, XksProxyUriEndpoint: ENDPOINT };
    const wrongSecret = { AccessKeyId: credential.AccessKeyId, RawSecretAccessKey: `${credential.RawSecretAccessKey.slice(0, -4)}AAAA` };
    await rejectsWith(
      kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreName: 'bad-secret', XksProxyUriPath: '/other/kms/xks/v1', XksProxyAuthenticationCredential: wrongSecret })),
      'XksProxyIncorrectAuthenticationCredentialException',
    );
    await rejectsWith(
      kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreName: 'bad-path', XksProxyUriPath: '/nowhere/kms/xks/v1', XksProxyAuthenticationCredential: credential })),
      'XksProxyInvalidConfigurationException',
    );
    await rejectsWith(
      kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreName: 'same-uri', XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: credential })),
      'XksProxyUriInUseException',
    );
    await rejectsWith(
      kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreName: 'vpc', XksProxyConnectivity: 'VPC_ENDPOINT_SERVICE', XksProxyUriPath: '/vpc/kms/xks/v1', XksProxyAuthenticationCredential: credential, XksProxyVpcEndpointServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' })),
      'UnsupportedOperationException',
    );
    await rejectsWith(
      kms.send(new CreateCustomKeyStoreCommand({ ...base, CustomKeyStoreName: 'port', XksProxyUriEndpoint: 'https://localhost:8443', XksProxyUriPath: '/p/kms/xks/v1', XksProxyAuthenticationCredential: credential })),
      'ValidationException',
      /xksProxyUriEndpoint/,
    );
    const names = (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores!.map((s) => s.CustomKeyStoreName);
    assert.deepEqual(names, ['site-a'], 'nothing was created');
  });

  test('a credential B no longer accepts: reconnecting fails with INVALID_CREDENTIALS; updating to a valid one connects again', async () => {
    const second = (await bAdmin('CreateXksCredential', { UriPath: URI_PATH })) as typeof credential;
    await bAdmin('DeleteXksCredential', { AccessKeyId: credential.AccessKeyId });
    // Still connected: crypto now fails, as AWS KMS's would, with the authentication message.
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /could not authenticate/);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('DISCONNECTED');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    assert.deepEqual(await waitForState('FAILED'), { state: 'FAILED', code: 'INVALID_CREDENTIALS' });
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('DISCONNECTED');
    // The credential may change in any state; it is checked against the proxy first.
    await rejectsWith(
      kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyAuthenticationCredential: credential })),
      'XksProxyIncorrectAuthenticationCredentialException',
    );
    await kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyAuthenticationCredential: second }));
    credential = second;
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('CONNECTED');
    await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') }));
  });

  test('B stopped: crypto answers KMSInvalidStateException at once, a reconnect fails with XKS_PROXY_NOT_REACHABLE, B back → CONNECTED', { timeout: 120_000 }, async () => {
    const sealed = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('before the outage') }));
    await b.stop();
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob })), 'KMSInvalidStateException', /cannot communicate with the external key store proxy/);
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('DISCONNECTED');
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    assert.deepEqual(await waitForState('FAILED'), { state: 'FAILED', code: 'XKS_PROXY_NOT_REACHABLE' });
    await rejectsWith(kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId })), 'CustomKeyStoreInvalidStateException');

    await startB();
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('DISCONNECTED');
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('CONNECTED');
    const opened = await kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }));
    assert.equal(Buffer.from(opened.Plaintext!).toString(), 'before the outage');
  });

  test('GenerateRandom refuses an external key store; a deleted key\'s own material leaves the default store even while the store is disconnected; the store deletes once empty', async () => {
    await rejectsWith(kms.send(new GenerateRandomCommand({ NumberOfBytes: 16, CustomKeyStoreId: storeId })), 'UnsupportedOperationException');
    const arn = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn!;
    const labelled = async () => (await a.keybridge.deps.hsm.listSymmetricKeys()).filter((ref) => ref.label === arn).length;
    assert.equal(await labelled(), 1, "the key's own AES key is in the default key store");
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForState('DISCONNECTED');
    a.clock.advance(8 * 24 * 3600 * 1000);
    assert.ok((await a.keybridge.sweeper.sweepOnce()).includes(keyId));
    assert.equal(await labelled(), 0, 'destroyed without the proxy');
    // The external key itself is never deleted by AWS KMS, nor by keybridge.
    assert.equal((await bAdmin('DescribeXksKey', { XksKeyId: EXTERNAL_KEY })).XksKey.KeyStatus, 'ENABLED');
    await kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  });
});
