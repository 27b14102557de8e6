// The XKS proxy in front of a custom key store's two-member cluster (keybridge replication, every
// token behind the fault-injecting PKCS#11 module): XKS keys live in the cluster and fail over like
// KMS keys, GetHealthStatus reports each member as the spec's ACTIVE / DEGRADED / UNAVAILABLE and
// fails when no member can serve, a disconnected store answers InvalidStateException, and
// secondary authorization refuses before any key is looked at.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeleteCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand, ConnectCustomKeyStoreCommand, DescribeCustomKeyStoresCommand } from '@aws-sdk/client-kms';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startFaultyClusterServer, type FaultyCluster, type FaultyClusterServer } from '../support/faulty-cluster.js';
import { runCliAgainst } from '../support/cli.js';
import { until } from '../support/until.js';
import {
  assertOk, assertXksError, createXksCredential, createXksKey, keyRequestMetadata, setXksKeyEnabled, xksAdmin, xksProxySettings, XksClient,
} from '../support/xks-client.js';

const CLUSTER: FaultyCluster = { clusterId: 'cluster-kbXksProxyCks', memberA: 'kb-xks-a', memberB: 'kb-xks-b', callTimeoutMs: 1_000, maxRetryIntervalMs: 500 };
const PATH = '/cks/kms/xks/v1';
const KEY = 'cluster-key';
const ALICE = 'arn:aws:iam::123456789012:user/Alice';
const BOB = 'arn:aws:iam::123456789012:user/Bob';

let env: FaultyClusterServer;
let xks: XksClient;

before(async () => {
  env = await startFaultyClusterServer(CLUSTER, {
    storeName: 'xks-backing',
    settings: xksProxySettings({
      healthCacheSeconds: 1,
      // Alice may use the proxy's keys; anyone may read metadata (KMS's CreateKey and DescribeKey).
      secondaryAuthorization: {
        rules: [
          { awsPrincipalArn: [ALICE], operations: ['Encrypt', 'Decrypt'] },
          { operations: ['GetKeyMetadata'], kmsOperation: ['CreateKey', 'DescribeKey'] },
        ],
      },
    }),
  });
  const credential = await createXksCredential(env.server, PATH);
  await createXksKey(env.server, { UriPath: PATH, XksKeyId: KEY, CustomKeyStoreId: env.storeId });
  xks = new XksClient(env.server.keybridge.xksProxyUrl!, PATH, credential, env.server.region);
});

after(async () => {
  env?.faults.clear();
  env?.kms.destroy();
  await env?.server.destroy();
});

const asAlice = (op: string) => keyRequestMetadata(op, { awsPrincipalArn: ALICE });

async function roundTrip(): Promise<void> {
  const sealed = assertOk(await xks.encrypt(KEY, { plaintext: Buffer.from('cluster').toString('base64'), requestMetadata: asAlice('Encrypt') }), 'encrypt');
  const opened = assertOk(
    await xks.decrypt(KEY, {
      requestMetadata: asAlice('Decrypt'),
      ciphertext: sealed.ciphertext,
      initializationVector: sealed.initializationVector,
      authenticationTag: sealed.authenticationTag,
    }),
    'decrypt',
  );
  assert.equal(Buffer.from(opened.plaintext, 'base64').toString(), 'cluster');
}

function memberHealth(body: { ekmFleetDetails: Array<{ id: string; healthStatus: string }> }): Record<string, string> {
  return Object.fromEntries(body.ekmFleetDetails.map((d) => [d.id, d.healthStatus]));
}

describe('an XKS key in a custom key store', () => {
  test('is created in the cluster and round-trips; DescribeXksKey names the store', async () => {
    await roundTrip();
    const metadata = assertOk(await xks.metadata(KEY), 'metadata');
    assert.equal(metadata.keyStatus, 'ENABLED');
    const described = await xksAdmin(env.server, 'DescribeXksKey', { XksKeyId: KEY });
    assert.equal(described.status, 200, described.body);
    assert.equal((described.json as { XksKey: { CustomKeyStoreId: string } }).XksKey.CustomKeyStoreId, env.storeId);
  });

  test('health lists both members of the store ACTIVE', async () => {
    const body = assertOk(await xks.health(), 'health');
    assert.deepEqual(memberHealth(body), { [`${env.storeId}/a`]: 'ACTIVE', [`${env.storeId}/b`]: 'ACTIVE' });
  });

  test('one member failing: it is UNAVAILABLE in the health answer and requests fail over to the other', { timeout: 30_000 }, async () => {
    env.faults.set([{ label: CLUSTER.memberA, scope: 'crypto', fail: 'CKR_DEVICE_ERROR' }]);
    try {
      await until(async () => {
        const res = await xks.health();
        return res.status === 200 && memberHealth(JSON.parse(res.body))[`${env.storeId}/a`] === 'UNAVAILABLE';
      }, 15_000, 'member a to be reported UNAVAILABLE', 100);
      const body = assertOk(await xks.health(), 'health');
      assert.equal(memberHealth(body)[`${env.storeId}/b`], 'ACTIVE');
      for (let i = 0; i < 5; i++) await roundTrip();
    } finally {
      env.faults.clear();
    }
    await until(async () => memberHealth(assertOk(await xks.health()))[`${env.storeId}/a`] === 'ACTIVE', 15_000, 'member a back', 100);
  });

  test('every member failing: health fails (no 200 without a working HSM), encrypt fails with a dependency error, both recover', { timeout: 30_000 }, async () => {
    env.faults.set([{ scope: 'crypto', fail: 'CKR_DEVICE_ERROR' }]);
    try {
      await until(async () => (await xks.health()).status >= 500, 15_000, 'health to fail', 100);
      const health = await xks.health();
      assert.ok(['InternalException', 'DependencyTimeoutException'].includes(JSON.parse(health.body).errorName), health.body);
      const res = await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata: asAlice('Encrypt') });
      assert.ok(res.status === 500 || res.status === 503, `HTTP ${res.status} ${res.body}`);
      assert.ok(['InternalException', 'DependencyTimeoutException'].includes(JSON.parse(res.body).errorName), res.body);
    } finally {
      env.faults.clear();
    }
    await until(async () => (await xks.health()).status === 200, 20_000, 'health to recover', 100);
    await until(async () => (await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata: asAlice('Encrypt') })).status === 200, 20_000, 'encrypt to recover', 100);
  });
});

describe('secondary authorization', () => {
  test('a principal no rule allows gets AccessDeniedException, before the key state is looked at', async () => {
    assertXksError(await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata: keyRequestMetadata('Encrypt', { awsPrincipalArn: BOB }) }), 403, 'AccessDeniedException', 'Bob encrypts');
    await setXksKeyEnabled(env.server, KEY, false);
    try {
      // Disabled key: Alice learns it is disabled; Bob learns nothing about it.
      assertXksError(await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata: asAlice('Encrypt') }), 400, 'InvalidStateException', 'Alice, disabled');
      assertXksError(await xks.decrypt(KEY, { requestMetadata: keyRequestMetadata('Decrypt', { awsPrincipalArn: BOB }), ciphertext: 'AAAA', initializationVector: 'AAAAAAAAAAAAAAAA', authenticationTag: 'AAAAAAAAAAAAAAAAAAAAAA==' }), 403, 'AccessDeniedException', 'Bob, disabled');
      assertXksError(await xks.encrypt('no-such-key', { plaintext: 'AAAA', requestMetadata: keyRequestMetadata('Encrypt', { awsPrincipalArn: BOB }) }), 403, 'AccessDeniedException', 'Bob, unknown key');
    } finally {
      await setXksKeyEnabled(env.server, KEY, true);
    }
  });

  test('GetKeyMetadata is allowed by its own rule; other KMS operations on it are not', async () => {
    assertOk(await xks.metadata(KEY, { requestMetadata: keyRequestMetadata('DescribeKey', { awsPrincipalArn: BOB }) }), 'DescribeKey by Bob');
    assertXksError(await xks.metadata(KEY, { requestMetadata: keyRequestMetadata('BulkDescribeKey', { awsPrincipalArn: BOB }) }), 403, 'AccessDeniedException');
  });

  test('GetHealthStatus is never subject to it', async () => {
    assertOk(await xks.health(), 'health');
  });

  test('the refusal is in the audit trail with who asked', async () => {
    const requestMetadata = keyRequestMetadata('Encrypt', { awsPrincipalArn: BOB });
    await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata });
    await until(async () => (await auditRecordsWhere(env.server.dataDir, '$.requestParameters.requestMetadata.kmsRequestId', requestMetadata.kmsRequestId as string)).length === 1, 5_000, 'the audit record');
    const [record] = await auditRecordsWhere<{ errorCode: string; requestParameters: { requestMetadata: { awsPrincipalArn: string } } }>(
      env.server.dataDir, '$.requestParameters.requestMetadata.kmsRequestId', requestMetadata.kmsRequestId as string,
    );
    assert.equal(record!.errorCode, 'AccessDeniedException');
    assert.equal(record!.requestParameters.requestMetadata.awsPrincipalArn, BOB);
  });
});

describe('the custom key store', () => {
  test('cannot be deleted while an XKS key lives in it', async () => {
    await env.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: env.storeId }));
    await until(async () => (await env.kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: env.storeId }))).CustomKeyStores?.[0]?.ConnectionState === 'DISCONNECTED', 15_000, 'DISCONNECTED');
    await assert.rejects(env.kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: env.storeId })), (err: Error) => err.name === 'CustomKeyStoreHasCMKsException');
  });

  test('disconnected: the key answers InvalidStateException, health fails, and both come back on connect', { timeout: 40_000 }, async () => {
    assertXksError(await xks.encrypt(KEY, { plaintext: 'AAAA', requestMetadata: asAlice('Encrypt') }), 400, 'InvalidStateException', 'store disconnected');
    await until(async () => (await xks.health()).status !== 200, 5_000, 'health to see the disconnected store');
    const health = await xks.health();
    assert.equal(JSON.parse(health.body).errorName, 'InvalidStateException', health.body);
    await env.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: env.storeId }));
    await until(async () => (await env.kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: env.storeId }))).CustomKeyStores?.[0]?.ConnectionState === 'CONNECTED', 30_000, 'CONNECTED');
    await roundTrip();
    await until(async () => (await xks.health()).status === 200, 5_000, 'health back');
  });
});

test("the trail holding the proxy's records verifies (`keybridge audit verify`)", async () => {
  const result = await runCliAgainst(env.server, ['audit', 'verify']);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /^OK: \d+ records, chain intact/);
  const proxyRecords = await auditRecordsWhere(env.server.dataDir, '$.eventSource', 'xks-proxy.keybridge');
  assert.ok(proxyRecords.length > 20, `proxy records: ${proxyRecords.length}`);
});
