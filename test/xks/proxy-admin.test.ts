// The KeybridgeAdmin operations that manage the XKS proxy's SigV4 credentials and external keys
// (credentials shaped as the XKS spec's Appendix A and console configuration file require; uriPath
// and externalKeyId as its "API operations" section allows), their validation, and their effect on
// the proxy. Also the xksProxy configuration block's rules. One in-process server for the file.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { rawRequest, type RawResponse } from '../support/raw-request.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';
import {
  assertOk, assertXksError, createXksCredential, createXksKey, healthRequestMetadata, keyRequestMetadata, xksAdmin, xksProxySettings,
  XksClient, type XksKeyView,
} from '../support/xks-client.js';

const PATH = '/admin-tests/kms/xks/v1';
const OTHER_PATH = '/admin-other/kms/xks/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const AUTHZ_PATH = '/authz/kms/xks/v1';
const ALICE = 'arn:aws:iam::123456789012:user/Alice'; // keyRequestMetadata()'s default principal
const APP_ROLE = 'arn:aws:iam::111122223333:role/app-web';
const BOB = 'arn:aws:iam::444455556666:user/bob';
// Secondary authorization (contract): any rule matching allows; absent fields match anything; a
// field a rule names but the request lacks does not match; health is never subject to it.
const AUTHZ_RULES = [
  { awsPrincipalArn: [ALICE] },
  { operations: ['Encrypt'], awsPrincipalArn: ['arn:aws:iam::111122223333:role/app-*'] },
  { operations: ['GetKeyMetadata'], awsPrincipalArn: [BOB], kmsOperation: ['CreateKey', 'Describe?ey'] },
  { operations: ['Decrypt'], awsPrincipalArn: [BOB], awsSourceVpc: ['vpc-1234'], kmsKeyArn: ['arn:aws:kms:*:123456789012:key/*'] },
];

let server: TestServer;
let proxy: XksClient;
let authz: XksClient;

function adminError(res: RawResponse, type: string, what: string): void {
  assert.equal(res.status, 400, `${what}: HTTP ${res.status} ${res.body}`);
  assert.equal(res.json?.__type, type, `${what}: ${res.body}`);
}

before(async () => {
  server = await startServer({ settings: xksProxySettings({ secondaryAuthorization: { rules: AUTHZ_RULES } }) });
  const url = (server.keybridge as unknown as { xksProxyUrl?: string }).xksProxyUrl;
  assert.ok(url, 'keybridge.xksProxyUrl is set when xksProxy.enabled');
  const credential = await createXksCredential(server, PATH);
  proxy = new XksClient(url, PATH, credential, server.region);
  authz = new XksClient(url, AUTHZ_PATH, await createXksCredential(server, AUTHZ_PATH), server.region);
  await createXksKey(server, { UriPath: AUTHZ_PATH, XksKeyId: 'authz-key' });
});

after(async () => {
  await server?.destroy();
});

describe('XKS credentials', () => {
  test('CreateXksCredential returns an access key id and secret of the shapes KMS accepts', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await xksAdmin(server, 'CreateXksCredential', { UriPath: OTHER_PATH });
    assert.equal(res.status, 200, res.body);
    const out = res.json;
    assert.match(out.AccessKeyId, /^[A-Z2-7]{20,30}$/);
    assert.match(out.RawSecretAccessKey, /^[A-Za-z0-9/+=]{43,64}$/);
    assert.equal(out.UriPath, OTHER_PATH);
    assert.equal(typeof out.CreationDate, 'number');
    assert.ok(out.CreationDate >= before - 5 && out.CreationDate <= Date.now() / 1000 + 5, `CreationDate ${out.CreationDate} is not epoch seconds of now`);

    // Listed, but never with its secret.
    const listed = await xksAdmin(server, 'ListXksCredentials', { UriPath: OTHER_PATH });
    assert.equal(listed.status, 200, listed.body);
    assert.ok(!listed.body.includes(out.RawSecretAccessKey), 'ListXksCredentials shows a secret');
    const entry = listed.json.Credentials.find((c: any) => c.AccessKeyId === out.AccessKeyId);
    assert.ok(entry, 'the new credential is listed');
    assert.equal(entry.UriPath, OTHER_PATH);
    assert.equal(entry.CreationDate, out.CreationDate);
    assert.equal(entry.RawSecretAccessKey, undefined);
    assert.ok(listed.json.Credentials.every((c: any) => c.UriPath === OTHER_PATH), 'UriPath filter');

    // Unfiltered: both paths' credentials, still no secrets.
    const all = await xksAdmin(server, 'ListXksCredentials', {});
    assert.equal(all.status, 200, all.body);
    const paths = new Set(all.json.Credentials.map((c: any) => c.UriPath));
    assert.ok(paths.has(PATH) && paths.has(OTHER_PATH), [...paths].join(', '));
    assert.ok(!all.body.includes(out.RawSecretAccessKey));
  });

  test('two credentials of one path are distinct; a third is LimitExceededException', async () => {
    const path = '/limit/kms/xks/v1';
    const first = await createXksCredential(server, path);
    const second = await createXksCredential(server, path);
    assert.notEqual(first.accessKeyId, second.accessKeyId);
    assert.notEqual(first.secretAccessKey, second.secretAccessKey);
    adminError(await xksAdmin(server, 'CreateXksCredential', { UriPath: path }), 'LimitExceededException', 'third credential');
    // Another path is not affected by this one's limit.
    await createXksCredential(server, '/limit-other/kms/xks/v1');
  });

  test('DeleteXksCredential of an unknown id is NotFoundException; of a known one, it is gone from the list', async () => {
    adminError(await xksAdmin(server, 'DeleteXksCredential', { AccessKeyId: 'ABCDEFGHIJKLMNOPQRSTUVWX23' }), 'NotFoundException', 'unknown');
    const path = '/delete-me/kms/xks/v1';
    const cred = await createXksCredential(server, path);
    const res = await xksAdmin(server, 'DeleteXksCredential', { AccessKeyId: cred.accessKeyId });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json ?? {}, {});
    const listed = await xksAdmin(server, 'ListXksCredentials', { UriPath: path });
    assert.deepEqual(listed.json.Credentials, []);
    adminError(await xksAdmin(server, 'DeleteXksCredential', { AccessKeyId: cred.accessKeyId }), 'NotFoundException', 'twice');
  });

  test('the secret is in neither the audit trail nor the log', async () => {
    const cred = await createXksCredential(server, '/secret-check/kms/xks/v1');
    const files = ['audit.db', 'audit.db-wal', 'keybridge.log'].map((f) => join(server.dataDir, f)).filter(existsSync);
    for (const file of files) {
      assert.equal(readFileSync(file).includes(Buffer.from(cred.secretAccessKey)), false, `secret found in ${file}`);
    }
  });
});

describe('UriPath validation', () => {
  test('paths the XKS spec allows are accepted', async () => {
    for (const path of ['/kms/xks/v1', '/a/kms/xks/v1', '/a/b_c-D9/kms/xks/v1', `/${'p'.repeat(128 - '//kms/xks/v1'.length)}/kms/xks/v1`]) {
      assert.ok(path.length <= 128, path);
      const res = await xksAdmin(server, 'CreateXksKey', { UriPath: path });
      assert.equal(res.status, 200, `${path}: ${res.body}`);
      assert.equal(res.json.XksKey.UriPath, path);
    }
  });

  test('anything else is ValidationException, for credentials and keys alike', async () => {
    const tooLong = `/${'p'.repeat(128 - '/kms/xks/v1'.length)}/kms/xks/v1`; // 129 characters
    assert.equal(tooLong.length, 129);
    const bad = [
      '', 'kms/xks/v1', '/kms/xks/v2', '/kms/xks/v1/', '/a/kms/xks', '/a b/kms/xks/v1', '/a.b/kms/xks/v1', '/a/kms/xks/v1?x=1',
      '/a%2F/kms/xks/v1', '/kms/xks/v1/keys', '//kms/xks/v1x', tooLong,
    ];
    for (const UriPath of bad) {
      adminError(await xksAdmin(server, 'CreateXksCredential', { UriPath }), 'ValidationException', `credential for ${JSON.stringify(UriPath)}`);
      adminError(await xksAdmin(server, 'CreateXksKey', { UriPath }), 'ValidationException', `key for ${JSON.stringify(UriPath)}`);
    }
    adminError(await xksAdmin(server, 'CreateXksCredential', {}), 'ValidationException', 'no UriPath');
    // A value of the wrong JSON type is AWS JSON 1.1's SerializationException (as KMS answers).
    adminError(await xksAdmin(server, 'CreateXksCredential', { UriPath: 42 }), 'SerializationException', 'numeric UriPath');
  });
});

describe('XKS keys', () => {
  test('CreateXksKey defaults: a UUID id, AES_256, ENCRYPT and DECRYPT, ENABLED; the proxy serves it', async () => {
    const before = Math.floor(Date.now() / 1000);
    const key: XksKeyView = await createXksKey(server, { UriPath: PATH, Description: 'for the defaults test' });
    assert.match(key.XksKeyId, UUID);
    assert.equal(key.UriPath, PATH);
    assert.equal(key.KeySpec, 'AES_256');
    assert.deepEqual([...key.KeyUsage].sort(), ['DECRYPT', 'ENCRYPT']);
    assert.equal(key.KeyStatus, 'ENABLED');
    assert.equal(key.Description, 'for the defaults test');
    assert.equal(typeof key.CreationDate, 'number');
    assert.ok(key.CreationDate >= before - 5 && key.CreationDate <= Date.now() / 1000 + 5, `CreationDate ${key.CreationDate}`);

    const md = assertOk(await proxy.metadata(key.XksKeyId), 'proxy metadata of the new key');
    assert.deepEqual(md, { keySpec: 'AES_256', keyUsage: key.KeyUsage, keyStatus: 'ENABLED' });

    const described = await xksAdmin(server, 'DescribeXksKey', { XksKeyId: key.XksKeyId });
    assert.equal(described.status, 200, described.body);
    assert.deepEqual(described.json.XksKey, key);
  });

  test('KeyUsage is kept and reported; only ENCRYPT and DECRYPT are allowed', async () => {
    const key = await createXksKey(server, { UriPath: PATH, XksKeyId: 'enc-only-admin', KeyUsage: ['ENCRYPT'] });
    assert.deepEqual(key.KeyUsage, ['ENCRYPT']);
    assert.deepEqual(assertOk(await proxy.metadata('enc-only-admin')).keyUsage, ['ENCRYPT']);
    adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, KeyUsage: ['SIGN'] }), 'ValidationException', 'KeyUsage SIGN');
    adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, KeyUsage: ['ENCRYPT', 'WRAP'] }), 'ValidationException', 'KeyUsage WRAP');
  });

  test('XksKeyId: 1 to 128 of [A-Za-z0-9._-]; anything else is ValidationException; duplicates AlreadyExistsException', async () => {
    for (const XksKeyId of ['x', 'A.b_c-9', 'k'.repeat(128)]) {
      const res = await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, XksKeyId });
      assert.equal(res.status, 200, `${XksKeyId}: ${res.body}`);
      assert.equal(res.json.XksKey.XksKeyId, XksKeyId);
    }
    adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, XksKeyId: 42 }), 'SerializationException', 'numeric XksKeyId');
    for (const XksKeyId of ['', 'k'.repeat(129), 'has space', 'a/b', 'a:b', 'ключ', 'a%2Fb']) {
      adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, XksKeyId }), 'ValidationException', `XksKeyId ${JSON.stringify(XksKeyId)}`);
    }
    adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, XksKeyId: 'x' }), 'AlreadyExistsException', 'same id, same path');
    adminError(await xksAdmin(server, 'CreateXksKey', { UriPath: OTHER_PATH, XksKeyId: 'x' }), 'AlreadyExistsException', 'same id, other path');
  });

  test('ListXksKeys lists every key, or one path\'s', async () => {
    await createXksKey(server, { UriPath: OTHER_PATH, XksKeyId: 'listed-other' });
    await createXksKey(server, { UriPath: PATH, XksKeyId: 'listed-here' });
    const mine = await xksAdmin(server, 'ListXksKeys', { UriPath: PATH });
    assert.equal(mine.status, 200, mine.body);
    const ids = mine.json.XksKeys.map((k: XksKeyView) => k.XksKeyId);
    assert.ok(ids.includes('listed-here'));
    assert.ok(!ids.includes('listed-other'));
    assert.ok(mine.json.XksKeys.every((k: XksKeyView) => k.UriPath === PATH));
    const all = await xksAdmin(server, 'ListXksKeys', {});
    const allIds = all.json.XksKeys.map((k: XksKeyView) => k.XksKeyId);
    assert.ok(allIds.includes('listed-here') && allIds.includes('listed-other'));
  });

  test('DescribeXksKey, EnableXksKey, DisableXksKey of an unknown key are NotFoundException', async () => {
    for (const op of ['DescribeXksKey', 'EnableXksKey', 'DisableXksKey', 'DeleteXksKey']) {
      adminError(await xksAdmin(server, op, { XksKeyId: 'never-created' }), 'NotFoundException', op);
    }
  });

  test('Disable and Enable return the key and take effect on the proxy at once', async () => {
    const key = await createXksKey(server, { UriPath: PATH, XksKeyId: 'toggle-admin' });
    const disabled = await xksAdmin(server, 'DisableXksKey', { XksKeyId: key.XksKeyId });
    assert.equal(disabled.status, 200, disabled.body);
    assert.equal(disabled.json.XksKey.KeyStatus, 'DISABLED');
    assert.equal(assertOk(await proxy.metadata(key.XksKeyId)).keyStatus, 'DISABLED');
    assertXksError(await proxy.encrypt(key.XksKeyId, { plaintext: 'SGVsbG8gV29ybGQh' }), 400, 'InvalidStateException');
    const enabled = await xksAdmin(server, 'EnableXksKey', { XksKeyId: key.XksKeyId });
    assert.equal(enabled.status, 200, enabled.body);
    assert.equal(enabled.json.XksKey.KeyStatus, 'ENABLED');
    assertOk(await proxy.encrypt(key.XksKeyId, { plaintext: 'SGVsbG8gV29ybGQh' }));
  });

  test('DeleteXksKey: refused while ENABLED; after Disable it deletes, and the proxy then answers KeyNotFoundException', async () => {
    const key = await createXksKey(server, { UriPath: PATH, XksKeyId: 'doomed' });
    const sealed = assertOk(await proxy.encrypt(key.XksKeyId, { plaintext: 'SGVsbG8gV29ybGQh' }));

    adminError(await xksAdmin(server, 'DeleteXksKey', { XksKeyId: key.XksKeyId }), 'KMSInvalidStateException', 'delete an ENABLED key');
    assertOk(await proxy.metadata(key.XksKeyId), 'still served after the refused delete');

    await xksAdmin(server, 'DisableXksKey', { XksKeyId: key.XksKeyId });
    const deleted = await xksAdmin(server, 'DeleteXksKey', { XksKeyId: key.XksKeyId });
    assert.equal(deleted.status, 200, deleted.body);
    assert.deepEqual(deleted.json ?? {}, {});

    adminError(await xksAdmin(server, 'DescribeXksKey', { XksKeyId: key.XksKeyId }), 'NotFoundException', 'describe after delete');
    const listed = await xksAdmin(server, 'ListXksKeys', { UriPath: PATH });
    assert.ok(!listed.json.XksKeys.some((k: XksKeyView) => k.XksKeyId === key.XksKeyId), 'a deleted key is listed');
    assertXksError(await proxy.metadata(key.XksKeyId), 404, 'KeyNotFoundException', 'metadata after delete');
    assertXksError(await proxy.encrypt(key.XksKeyId, { plaintext: 'SGVsbG8gV29ybGQh' }), 404, 'KeyNotFoundException', 'encrypt after delete');
    assertXksError(
      await proxy.decrypt(key.XksKeyId, { ciphertext: sealed.ciphertext, initializationVector: sealed.initializationVector, authenticationTag: sealed.authenticationTag }),
      404, 'KeyNotFoundException', 'decrypt after delete',
    );
  });

  test('a new key under a deleted key\'s id is a new key: old ciphertext does not decrypt under it', async () => {
    const key = await createXksKey(server, { UriPath: PATH, XksKeyId: 'reborn' });
    const sealed = assertOk(await proxy.encrypt(key.XksKeyId, { plaintext: 'SGVsbG8gV29ybGQh' }));
    await xksAdmin(server, 'DisableXksKey', { XksKeyId: key.XksKeyId });
    assert.equal((await xksAdmin(server, 'DeleteXksKey', { XksKeyId: key.XksKeyId })).status, 200);
    const again = await xksAdmin(server, 'CreateXksKey', { UriPath: PATH, XksKeyId: 'reborn' });
    if (again.status !== 200) {
      // Refusing to reuse a deleted id is just as safe.
      adminError(again, 'AlreadyExistsException', 'reuse of a deleted id');
      return;
    }
    assertXksError(
      await proxy.decrypt('reborn', { ciphertext: sealed.ciphertext, initializationVector: sealed.initializationVector, authenticationTag: sealed.authenticationTag }),
      400, 'InvalidCiphertextException', 'old ciphertext under the new key',
    );
  });
});

describe('secondary authorization (contract; spec "Authorization")', () => {
  const denied = (res: Awaited<ReturnType<XksClient['health']>>, what: string) => assertXksError(res, 403, 'AccessDeniedException', what);
  const HELLO = 'SGVsbG8gV29ybGQh';
  const md = (op: string, extra: Record<string, unknown> = {}) => keyRequestMetadata(op, { awsPrincipalArn: BOB, ...extra });

  test('Encrypt is allowed for the principals a rule names (wildcards), denied for others', async () => {
    const sealed = assertOk(await authz.encrypt('authz-key', { requestMetadata: md('Encrypt', { awsPrincipalArn: APP_ROLE }), plaintext: HELLO }), 'app-web');
    assert.equal(Buffer.from(sealed.ciphertext, 'base64').length, 12);
    denied(await authz.encrypt('authz-key', { requestMetadata: md('Encrypt', { awsPrincipalArn: 'arn:aws:iam::111122223333:role/admin' }), plaintext: HELLO }), 'role/admin');
    denied(await authz.encrypt('authz-key', { requestMetadata: md('Encrypt', { awsPrincipalArn: 'AWS Internal' }), plaintext: HELLO }), 'AWS Internal');
    denied(await authz.encrypt('authz-key', { requestMetadata: md('Encrypt'), plaintext: HELLO }), 'bob may not encrypt');
  });

  test('GetKeyMetadata is allowed for the kmsOperations a rule names, denied for others', async () => {
    assertOk(await authz.metadata('authz-key', { requestMetadata: md('DescribeKey') }), 'DescribeKey');
    assertOk(await authz.metadata('authz-key', { requestMetadata: md('CreateKey') }), 'CreateKey');
    denied(await authz.metadata('authz-key', { requestMetadata: md('BulkDescribeKey') }), 'BulkDescribeKey');
  });

  test('a field a rule names but the request lacks does not match', async () => {
    const sealed = assertOk(await authz.encrypt('authz-key', { requestMetadata: md('Encrypt', { awsPrincipalArn: APP_ROLE }), plaintext: HELLO }));
    const fields = { ciphertext: sealed.ciphertext, initializationVector: sealed.initializationVector, authenticationTag: sealed.authenticationTag };
    denied(await authz.decrypt('authz-key', { requestMetadata: md('Decrypt'), ...fields }), 'no awsSourceVpc');
    denied(await authz.decrypt('authz-key', { requestMetadata: md('Decrypt', { awsSourceVpc: 'vpc-9999' }), ...fields }), 'another VPC');
    denied(await authz.decrypt('authz-key', { requestMetadata: md('Decrypt', { awsSourceVpc: 'vpc-1234', kmsKeyArn: 'arn:aws:kms:us-east-2:999999999999:key/x' }), ...fields }), 'key of another account');
    const out = assertOk(await authz.decrypt('authz-key', { requestMetadata: md('Decrypt', { awsSourceVpc: 'vpc-1234' }), ...fields }), 'vpc-1234');
    assert.equal(out.plaintext, HELLO);
  });

  test('authorization comes before the key lookup; health is never subject to it', async () => {
    denied(await authz.metadata('no-such-key', { requestMetadata: md('BulkDescribeKey') }), 'unknown key, denied');
    assertXksError(await authz.metadata('no-such-key', { requestMetadata: md('DescribeKey') }), 404, 'KeyNotFoundException', 'unknown key, allowed');
    assertOk(await authz.health({ requestMetadata: healthRequestMetadata('KmsHealthCheck') }), 'health');
    assertOk(await authz.health({ requestMetadata: healthRequestMetadata('SomethingNew') }), 'health, unknown kmsOperation');
  });

  test('a principal no rule names is denied everything but health', async () => {
    const carol = (op: string) => keyRequestMetadata(op, { awsPrincipalArn: 'arn:aws:iam::123456789012:user/carol' });
    denied(await authz.metadata('authz-key', { requestMetadata: carol('DescribeKey') }), 'metadata');
    denied(await authz.encrypt('authz-key', { requestMetadata: carol('Encrypt'), plaintext: HELLO }), 'encrypt');
    assertOk(await authz.health(), 'health');
  });
});

describe('admin access', () => {
  test('an unsigned admin call is refused and changes nothing', async () => {
    const res = await rawRequest(server, { target: 'KeybridgeAdmin.CreateXksCredential', body: JSON.stringify({ UriPath: '/unsigned/kms/xks/v1' }), sign: false });
    assert.notEqual(res.status, 200, res.body);
    const listed = await xksAdmin(server, 'ListXksCredentials', { UriPath: '/unsigned/kms/xks/v1' });
    assert.deepEqual(listed.json.Credentials, []);
  });

  test('admin calls are in the audit trail', async () => {
    const db = readFileSync(join(server.dataDir, 'audit.db'));
    const wal = existsSync(join(server.dataDir, 'audit.db-wal')) ? readFileSync(join(server.dataDir, 'audit.db-wal')) : Buffer.alloc(0);
    const text = Buffer.concat([db, wal]);
    for (const op of ['KeybridgeAdmin.CreateXksCredential', 'KeybridgeAdmin.CreateXksKey', 'KeybridgeAdmin.DeleteXksKey']) {
      assert.ok(text.includes(Buffer.from(op)), `no ${op} record`);
    }
  });
});

describe('xksProxy configuration', () => {
  const dataDir = makeDataDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const parse = (xksProxy: Record<string, unknown>) => parseConfig({ dataDir, xksProxy }, dataDir);

  test('plain HTTP only on a loopback host; otherwise TLS is required', () => {
    assert.doesNotThrow(() => parse({ enabled: true, plainHttp: true, host: '127.0.0.1', port: 0 }));
    assert.throws(() => parse({ enabled: true, plainHttp: true, host: '0.0.0.0', port: 4600 }));
    assert.throws(() => parse({ enabled: true, plainHttp: true, host: '10.1.2.3', port: 4600 }));
    assert.throws(() => parse({ enabled: true, host: '0.0.0.0', port: 4600 }), 'no TLS and no plainHttp on a public host');
  });

  test('healthCacheSeconds is 1..60 (the spec: a cached health result MUST NOT be older than one minute)', () => {
    assert.doesNotThrow(() => parse({ enabled: true, plainHttp: true, healthCacheSeconds: 1 }));
    assert.doesNotThrow(() => parse({ enabled: true, plainHttp: true, healthCacheSeconds: 60 }));
    assert.throws(() => parse({ enabled: true, plainHttp: true, healthCacheSeconds: 0 }));
    assert.throws(() => parse({ enabled: true, plainHttp: true, healthCacheSeconds: 61 }));
  });

  test('secondaryAuthorization conditions take one pattern or a list, as IAM conditions do', () => {
    const rules = [
      { uriPath: '/tenant-*/kms/xks/v1', operations: ['Encrypt', 'Decrypt'], awsPrincipalArn: ['arn:aws:iam::*:role/app-?'] },
      { uriPath: ['/kms/xks/v1'], kmsOperation: 'CreateKey', awsSourceVpc: ['vpc-1'], awsSourceVpce: 'vpce-1', kmsKeyArn: ['*'], operations: 'GetKeyMetadata' },
    ];
    assert.doesNotThrow(() => parse({ enabled: true, plainHttp: true, secondaryAuthorization: { rules } }));
    assert.throws(() => parse({ enabled: true, plainHttp: true, secondaryAuthorization: { rules: [{ operations: ['Sign'] }] } }), 'operation outside GetKeyMetadata|Encrypt|Decrypt');
  });

  test('disabled by default: no proxy URL', () => {
    const config = parseConfig({ dataDir }, dataDir) as unknown as { xksProxy?: { enabled?: boolean } };
    assert.equal(config.xksProxy?.enabled ?? false, false);
  });
});
