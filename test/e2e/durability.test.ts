// Durability across restarts on one data directory: keys, aliases, tags, policies and ciphertexts
// survive; nothing is re-initialised on a later start; start-up reconciliation reports an HSM object
// no metadata names (a crash between the HSM object and the metadata) and never serves it; every
// backing key object in the token is sensitive and never extractable; SQLite runs in WAL mode.
//
// The tests run in order and share one data directory.

import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import pkcs11js from 'pkcs11js';
import { rawRequest, type RawResponse } from '../support/raw-request.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';
import { SUITE_UNDER_TEST } from '../support/symmetric-suite.js';

const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

const dataDir = makeDataDir();
let server: TestServer | undefined;

after(async () => {
  // stop() is idempotent; destroy() removes the directory.
  if (server) await server.destroy();
});

async function start(): Promise<TestServer> {
  // One server at a time: a test that failed half-way may have left one running.
  if (server) await server.stop();
  server = await startServer({ dataDir });
  return server;
}

async function call(operation: string, body: unknown): Promise<RawResponse> {
  return rawRequest(server!, { target: `TrentService.${operation}`, body: JSON.stringify(body) });
}

async function must(operation: string, body: unknown): Promise<any> {
  const res = await call(operation, body);
  assert.equal(res.status, 200, `${operation}: ${res.body}`);
  return res.json;
}

async function fails(operation: string, body: unknown, type: string): Promise<string> {
  const res = await call(operation, body);
  assert.equal(res.json?.__type, type, `${operation}: expected ${type}, got ${res.status} ${res.body}`);
  return res.json.message as string;
}

/**
 * relative path → sha256 of every file under a SoftHSM2 token directory. SoftHSM2 object files
 * start with an 8-byte generation counter, which it bumps whenever it rewrites the file: on every
 * C_Login it rewrites token.object to reset the PIN-failure flags, so that counter moves on every
 * start. It is left out; every other byte (label, serial, PIN blobs, key objects) must stay.
 */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) {
        walk(path);
        continue;
      }
      const content = readFileSync(path);
      const compared = entry.name.endsWith('.object') ? content.subarray(8) : content;
      out[relative(dir, path)] = `${content.length} ${createHash('sha256').update(compared).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

/** Everything a client can see about the keys, aliases, tags and policies. */
async function snapshot(): Promise<unknown> {
  const keys = (await must('ListKeys', { Limit: 1000 })).Keys;
  const perKey: Record<string, unknown> = {};
  for (const { KeyId } of keys) {
    perKey[KeyId] = {
      metadata: (await must('DescribeKey', { KeyId })).KeyMetadata,
      tags: (await must('ListResourceTags', { KeyId })).Tags,
      policy: await must('GetKeyPolicy', { KeyId, PolicyName: 'default' }),
      policies: await must('ListKeyPolicies', { KeyId }),
    };
  }
  return { keys, perKey, aliases: await must('ListAliases', {}) };
}

// ---- State carried from one start to the next ------------------------------------------------------

const plaintext = randomBytes(48);
const context = { app: 'durability', tenant: 't-1' };
const policy = JSON.stringify({
  Version: '2012-10-17',
  Id: 'durability-policy',
  Statement: [{ Sid: 'durability', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' }],
});
let k1: any;
let k2: any;
let k3: any;
let blob1: string;
let blob2: string;
let dataKey: { Plaintext: string; CiphertextBlob: string };
let before: unknown;
let firstCredentials: { accessKeyId: string; secretAccessKey: string };
let files: { credentials: Buffer; userPin: Buffer; soPin: Buffer; conf: Buffer; tokens: Record<string, string> };
const orphan = { id: randomBytes(32).toString('hex'), uuid: randomUUID() };

test('first start: create keys, aliases, tags, a policy and ciphertexts; SQLite is in WAL mode', async () => {
  const s = await start();
  assert.deepEqual(s.keybridge.reconciliation, { orphanBackingKeys: [], keysMissingMaterial: [] });
  firstCredentials = s.credentials;

  k1 = (await must('CreateKey', { Description: 'durable one', Tags: [{ TagKey: 'env', TagValue: 'prod' }, { TagKey: 'owner', TagValue: 'alice' }] })).KeyMetadata;
  k2 = (await must('CreateKey', { Description: 'durable two' })).KeyMetadata;
  k3 = (await must('CreateKey', { Description: 'durable three' })).KeyMetadata;
  await must('CreateAlias', { AliasName: 'alias/durable/one', TargetKeyId: k1.KeyId });
  await must('CreateAlias', { AliasName: 'alias/durable-two', TargetKeyId: k2.Arn });
  await must('PutKeyPolicy', { KeyId: k1.KeyId, PolicyName: 'default', Policy: policy });
  await must('UpdateKeyDescription', { KeyId: k1.KeyId, Description: 'durable one, updated' });
  await must('TagResource', { KeyId: k1.KeyId, Tags: [{ TagKey: 'owner', TagValue: 'bob' }, { TagKey: 'cost-center', TagValue: '42' }] });
  await must('UntagResource', { KeyId: k1.KeyId, TagKeys: ['env'] });

  blob1 = (await must('Encrypt', { KeyId: 'alias/durable/one', Plaintext: plaintext.toString('base64'), EncryptionContext: context })).CiphertextBlob;
  blob2 = (await must('Encrypt', { KeyId: k2.KeyId, Plaintext: plaintext.toString('base64') })).CiphertextBlob;
  dataKey = await must('GenerateDataKey', { KeyId: k1.Arn, KeySpec: 'AES_256', EncryptionContext: context });
  await must('DisableKey', { KeyId: k2.KeyId });
  await must('ScheduleKeyDeletion', { KeyId: k3.KeyId, PendingWindowInDays: 7 });
  before = await snapshot();

  // WAL: the -wal file is in use while serving, and the database says so.
  const dbPath = join(dataDir, 'keybridge.db');
  assert.ok(existsSync(`${dbPath}-wal`), 'no keybridge.db-wal while the server runs');
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    assert.equal(String(db.pragma('journal_mode', { simple: true })).toLowerCase(), 'wal');
    const count = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    assert.ok(count.n > 0);
  } finally {
    db.close();
  }
  // The header records WAL persistently (file format read/write versions 2).
  const header = readFileSync(dbPath).subarray(0, 100);
  assert.equal(header.toString('latin1', 0, 15), 'SQLite format 3');
  assert.equal(header[18], 2);
  assert.equal(header[19], 2);

  await s.stop();
  files = {
    credentials: readFileSync(join(dataDir, 'credentials')),
    userPin: readFileSync(join(dataDir, 'pins', 'user.pin')),
    soPin: readFileSync(join(dataDir, 'pins', 'so.pin')),
    conf: readFileSync(join(dataDir, 'softhsm2.conf')),
    tokens: hashTree(join(dataDir, 'tokens')),
  };
  assert.ok(Object.keys(files.tokens).length >= 2, `token files: ${Object.keys(files.tokens).join(', ')}`);
});

test('second start on the same directory: nothing re-initialised, everything still there', async () => {
  assert.ok(before, 'the first start did not complete');
  const s = await start();
  // Same operator credentials, same files, same token.
  assert.deepEqual(s.credentials, firstCredentials);
  assert.ok(readFileSync(join(dataDir, 'credentials')).equals(files.credentials), 'the credentials file changed');
  assert.ok(readFileSync(join(dataDir, 'pins', 'user.pin')).equals(files.userPin), 'the user PIN changed');
  assert.ok(readFileSync(join(dataDir, 'pins', 'so.pin')).equals(files.soPin), 'the SO PIN changed');
  assert.ok(readFileSync(join(dataDir, 'softhsm2.conf')).equals(files.conf), 'softhsm2.conf changed');
  assert.deepEqual(hashTree(join(dataDir, 'tokens')), files.tokens, 'the token files changed on start');
  assert.deepEqual(s.keybridge.reconciliation, { orphanBackingKeys: [], keysMissingMaterial: [] });

  // Every key, alias, tag and policy as it was.
  assert.deepEqual(await snapshot(), before);
  const described = (await must('DescribeKey', { KeyId: 'alias/durable/one' })).KeyMetadata;
  assert.equal(described.Description, 'durable one, updated');
  assert.equal((await must('GetKeyPolicy', { KeyId: k1.KeyId })).Policy, policy);
  assert.deepEqual((await must('ListResourceTags', { KeyId: k1.KeyId })).Tags, [
    { TagKey: 'cost-center', TagValue: '42' },
    { TagKey: 'owner', TagValue: 'bob' },
  ]);
  assert.equal((await must('DescribeKey', { KeyId: k2.KeyId })).KeyMetadata.KeyState, 'Disabled');
  const pending = (await must('DescribeKey', { KeyId: k3.KeyId })).KeyMetadata;
  assert.equal(pending.KeyState, 'PendingDeletion');
  assert.equal(pending.PendingDeletionWindowInDays, 7);

  // Old ciphertexts decrypt.
  const dec1 = await must('Decrypt', { CiphertextBlob: blob1, EncryptionContext: context });
  assert.ok(Buffer.from(dec1.Plaintext, 'base64').equals(plaintext));
  assert.equal(dec1.KeyId, k1.Arn);
  const decKey = await must('Decrypt', { CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context, KeyId: 'alias/durable/one' });
  assert.equal(decKey.Plaintext, dataKey.Plaintext);
  await fails('Decrypt', { CiphertextBlob: blob2 }, 'DisabledException');
  await must('EnableKey', { KeyId: k2.KeyId });
  const dec2 = await must('Decrypt', { CiphertextBlob: blob2 });
  assert.ok(Buffer.from(dec2.Plaintext, 'base64').equals(plaintext));
  await fails('Decrypt', { CiphertextBlob: blob1, EncryptionContext: { app: 'other' } }, 'InvalidCiphertextException');

  // Crypto and metadata changes do not touch the token's files.
  assert.deepEqual(hashTree(join(dataDir, 'tokens')), files.tokens, 'the token files changed while serving');

  // The log shows one initialisation and one credentials write, across both starts.
  await s.stop();
  const log = readFileSync(s.logFile, 'utf8');
  assert.equal(log.split('initialised the embedded SoftHSM2 token').length - 1, 1, 'the token was initialised more than once');
  assert.equal(log.split('wrote operator credentials').length - 1, 1, 'the credentials were written more than once');
  assert.ok(readFileSync(join(dataDir, 'credentials')).equals(files.credentials));
});

test('reconciliation: an HSM object without metadata is reported as an orphan and never served', async () => {
  assert.ok(before, 'the first start did not complete');
  let s = await start();
  const label = `arn:aws:kms:${s.region}:${s.accountId}:key/${orphan.uuid}`;
  // A crash between CreateKey's HSM object and its metadata leaves exactly this behind.
  await s.keybridge.deps.hsm.generateSymmetricKey({ id: orphan.id, label });
  await s.stop();

  s = await start();
  const { orphanBackingKeys, keysMissingMaterial } = s.keybridge.reconciliation;
  assert.deepEqual(orphanBackingKeys, [{ id: orphan.id, label }]);
  assert.deepEqual(keysMissingMaterial, []);

  const listed = (await must('ListKeys', { Limit: 1000 })).Keys.map((k: { KeyId: string }) => k.KeyId);
  assert.ok(!listed.includes(orphan.uuid), 'the orphan is listed');
  assert.deepEqual(listed.sort(), [k1.KeyId, k2.KeyId, k3.KeyId].sort());
  assert.equal(await fails('DescribeKey', { KeyId: orphan.uuid }, 'NotFoundException'), `Key '${label}' does not exist`);
  await fails('DescribeKey', { KeyId: label }, 'NotFoundException');
  await fails('Encrypt', { KeyId: orphan.uuid, Plaintext: plaintext.toString('base64') }, 'NotFoundException');
  await fails('EnableKey', { KeyId: orphan.uuid }, 'NotFoundException');
  await fails('CreateAlias', { AliasName: 'alias/orphan', TargetKeyId: orphan.uuid }, 'NotFoundException');

  // The real keys are unaffected.
  const dec = await must('Decrypt', { CiphertextBlob: blob1, EncryptionContext: context });
  assert.ok(Buffer.from(dec.Plaintext, 'base64').equals(plaintext));
  await s.stop();
  const log = readFileSync(s.logFile, 'utf8');
  assert.ok(log.split('\n').some((line) => line.includes('orphan HSM key object') && line.includes(orphan.id)), 'the orphan was not logged');
});

// Kept for the life of the process: a collected pkcs11js object may unload the library under us.
let pkcs11: pkcs11js.PKCS11 | undefined;

test('every backing key object is a sensitive, never-extractable token object labelled with its key ARN', async () => {
  assert.ok(k1 && k2 && k3, 'the first start did not complete');
  // The token must be ours alone: keybridge finalises the library when its last user stops.
  if (server) await server.stop();
  const userPin = readFileSync(join(dataDir, 'pins', 'user.pin'), 'utf8').trim();
  pkcs11 = new pkcs11js.PKCS11();
  pkcs11.load(SOFTHSM_MODULE);
  // SOFTHSM2_CONF points at this data directory's configuration (set by the embedded setup).
  assert.equal(process.env.SOFTHSM2_CONF, join(dataDir, 'softhsm2.conf'));
  pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  try {
    const slot = pkcs11.C_GetSlotList(true).find((sl) => pkcs11!.C_GetTokenInfo(sl).label.trim() === 'keybridge');
    assert.ok(slot, 'the keybridge token is not in any slot');
    const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    pkcs11.C_Login(session, pkcs11js.CKU_USER, userPin);
    try {
      const bool = (b: Buffer | undefined) => {
        assert.ok(b && b.length === 1, 'not a CK_BBOOL');
        return b[0] === 1;
      };
      const expected = [
        { id: k1.CurrentKeyMaterialId, label: k1.Arn },
        { id: k2.CurrentKeyMaterialId, label: k2.Arn },
        { id: k3.CurrentKeyMaterialId, label: k3.Arn },
        { id: orphan.id, label: `arn:aws:kms:us-east-1:111122223333:key/${orphan.uuid}` },
      ];
      // Under the CBC-HMAC suite each KMS key's material has its MAC key beside it (CKA_ID = id ‖ 0x4d).
      const macKeys = SUITE_UNDER_TEST === 'AES_256_CBC_HMAC_SHA_256' ? expected.slice(0, 3) : [];
      for (const { id, label } of macKeys) {
        pkcs11.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_ID, value: Buffer.concat([Buffer.from(id!, 'hex'), Buffer.from([0x4d])]) },
        ]);
        const handles: pkcs11js.Handle[] = pkcs11.C_FindObjects(session, 10);
        pkcs11.C_FindObjectsFinal(session);
        assert.equal(handles.length, 1, `the MAC key of ${label}`);
        const [sensitive, extractable, neverExtractable, lbl, keyType, sign, encrypt]: Buffer[] = pkcs11!
          .C_GetAttributeValue(session, handles[0]!, [
            { type: pkcs11js.CKA_SENSITIVE },
            { type: pkcs11js.CKA_EXTRACTABLE },
            { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
            { type: pkcs11js.CKA_LABEL },
            { type: pkcs11js.CKA_KEY_TYPE },
            { type: pkcs11js.CKA_SIGN },
            { type: pkcs11js.CKA_ENCRYPT },
          ])
          .map((a) => a.value as Buffer);
        assert.deepEqual([bool(sensitive), bool(extractable), bool(neverExtractable), bool(sign), bool(encrypt)], [true, false, true, true, false], `the MAC key of ${label}`);
        assert.equal(lbl!.toString('utf8'), label);
        assert.equal(keyType!.readUInt32LE(0), pkcs11js.CKK_GENERIC_SECRET);
      }
      for (const { id, label } of expected) {
        assert.match(id, /^[0-9a-f]{64}$/);
        pkcs11.C_FindObjectsInit(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
        ]);
        const handles: pkcs11js.Handle[] = pkcs11.C_FindObjects(session, 10);
        pkcs11.C_FindObjectsFinal(session);
        assert.equal(handles.length, 1, `${handles.length} objects with CKA_ID ${id}`);
        const handle = handles[0]!;
        const attrs = pkcs11.C_GetAttributeValue(session, handle, [
          { type: pkcs11js.CKA_SENSITIVE },
          { type: pkcs11js.CKA_EXTRACTABLE },
          { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
          { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
          { type: pkcs11js.CKA_TOKEN },
          { type: pkcs11js.CKA_PRIVATE },
          { type: pkcs11js.CKA_LABEL },
          { type: pkcs11js.CKA_KEY_TYPE },
          { type: pkcs11js.CKA_VALUE_LEN },
        ]);
        const [sensitive, extractable, neverExtractable, alwaysSensitive, token, priv, lbl, keyType, valueLen] = attrs.map((a) => a.value as Buffer);
        assert.equal(bool(sensitive), true, `CKA_SENSITIVE of ${label}`);
        assert.equal(bool(extractable), false, `CKA_EXTRACTABLE of ${label}`);
        assert.equal(bool(neverExtractable), true, `CKA_NEVER_EXTRACTABLE of ${label}`);
        assert.equal(bool(alwaysSensitive), true, `CKA_ALWAYS_SENSITIVE of ${label}`);
        assert.equal(bool(token), true, `CKA_TOKEN of ${label}`);
        assert.equal(bool(priv), true, `CKA_PRIVATE of ${label}`);
        assert.equal(lbl!.toString('utf8'), label);
        assert.equal(keyType!.readUInt32LE(0), pkcs11js.CKK_AES);
        assert.equal(valueLen!.readUInt32LE(0), 32);
        assert.throws(
          () => pkcs11!.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]),
          (err: unknown) => err instanceof pkcs11js.Pkcs11Error && err.code === pkcs11js.CKR_ATTRIBUTE_SENSITIVE,
          `CKA_VALUE of ${label} is readable`,
        );
      }
      // No other secret keys on the token but keybridge's own, sensitive and non-extractable too
      // (the health checker's canary key).
      pkcs11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
      const all: pkcs11js.Handle[] = pkcs11.C_FindObjects(session, 100);
      pkcs11.C_FindObjectsFinal(session);
      const internal = all.filter((handle) => {
        const [lbl, sensitive, extractable] = pkcs11!
          .C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }])
          .map((a) => a.value as Buffer);
        if (!lbl!.toString('utf8').startsWith('keybridge:internal:')) return false;
        assert.deepEqual([bool(sensitive), bool(extractable)], [true, false], `${lbl!.toString('utf8')} must be sensitive and non-extractable`);
        return true;
      });
      assert.deepEqual(
        internal.map((h) => pkcs11!.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_LABEL }])[0]!.value!.toString('utf8')).sort(),
        // The canary, and the secret-sealing key every start makes on a fresh token (services/secret-sealer.ts
        // prepare): one AES-GCM key, or with the default store forced to the CBC-HMAC suite its two keys.
        process.env['KEYBRIDGE_TEST_SYMMETRIC_SUITE'] === 'AES_256_CBC_HMAC_SHA_256'
          ? ['keybridge:internal:canary', 'keybridge:internal:secrets-cbc-hmac', 'keybridge:internal:secrets-cbc-hmac']
          : ['keybridge:internal:canary', 'keybridge:internal:secrets'],
      );
      assert.equal(all.length, expected.length + macKeys.length + internal.length);
    } finally {
      pkcs11.C_Logout(session);
      pkcs11.C_CloseSession(session);
    }
  } finally {
    pkcs11.C_Finalize();
  }
});
