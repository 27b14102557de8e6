// The admin operations the web console (issue #18) needs besides LookupEvents, through real SigV4
// requests to a real server: GetCallerIdentity (any caller: who am I), DescribeRequestMetrics
// (this node's last 15 minutes of requests in 10-second periods) and VerifyAuditTrail (what
// `keybridge audit verify` checks, on the trail the server writes — intact, then tampered with).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import Database from 'better-sqlite3';
import pg from 'pg';

import type { AdminDeps } from '../../src/admin/operation.js';
import { verifyAuditTrail } from '../../src/admin/verify-audit-trail.js';
import { fileTrailVerifier } from '../../src/audit/trail-verifier.js';
import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { KmsError } from '../../src/domain/errors.js';
import { NODE_ID } from '../../src/services/work-claim.js';
import { runCliAgainst } from '../support/cli.js';
import { sdkClient } from '../support/kms-client.js';
import { rawRequest } from '../support/raw-request.js';
import { postgresDatabaseOf, startServer, type TestServer } from '../support/server.js';

type Credentials = { accessKeyId: string; secretAccessKey: string };

let server: TestServer;
let kms: KMSClient;
let keyId: string;
let user: Credentials;
let role: Credentials;
const OTHER_ACCOUNT = '444455556666';

async function admin(operation: string, body: unknown = {}, credentials?: Credentials) {
  const res = await rawRequest(server, { target: `KeybridgeAdmin.${operation}`, body: JSON.stringify(body), ...(credentials === undefined ? {} : { credentials }) });
  return { status: res.status, json: res.json as Record<string, any> };
}

async function ok(operation: string, body: unknown = {}, credentials?: Credentials): Promise<Record<string, any>> {
  const res = await admin(operation, body, credentials);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json;
}

before(async () => {
  // A signed digest every second, so VerifyAuditTrail has digests to check.
  server = await startServer({ settings: { audit: { digestIntervalSeconds: 1 } } });
  kms = sdkClient(server);
  const made = await runCliAgainst(server, ['principals', 'create', '--account', server.accountId, '--user', 'console-viewer']);
  assert.equal(made.code, 0, made.stderr);
  const madeRole = await runCliAgainst(server, ['principals', 'create', '--account', OTHER_ACCOUNT, '--role', 'console-role']);
  assert.equal(madeRole.code, 0, madeRole.stderr);
  const profiles = readCredentialsFile(server.credentialsFile);
  user = profiles.get('console-viewer')!;
  role = profiles.get('console-role')!;
});

after(async () => {
  await server?.stop();
});

test('GetCallerIdentity: the root, a user and another account\'s role each learn who they are', async () => {
  assert.deepEqual(await ok('GetCallerIdentity'), {
    Account: server.accountId,
    Arn: `arn:aws:iam::${server.accountId}:root`,
    UserId: server.accountId,
    Type: 'Root',
  });
  const asUser = await ok('GetCallerIdentity', {}, user);
  assert.equal(asUser['Account'], server.accountId);
  assert.equal(asUser['Arn'], `arn:aws:iam::${server.accountId}:user/console-viewer`);
  assert.equal(asUser['Type'], 'IAMUser');
  assert.match(asUser['UserId'], /^AIDA[A-Z2-7]{17}$/);
  assert.deepEqual(await ok('GetCallerIdentity', {}, user), asUser, 'stable');
  const asRole = await ok('GetCallerIdentity', {}, role);
  assert.deepEqual(
    { ...asRole, UserId: undefined },
    { Account: OTHER_ACCOUNT, Arn: `arn:aws:iam::${OTHER_ACCOUNT}:role/console-role`, Type: 'AssumedRole', UserId: undefined },
  );
  assert.match(asRole['UserId'], /^AROA[A-Z2-7]{17}$/);

  // UserId is the principalId the audit trail records for the same caller.
  const found = await ok('LookupEvents', {
    LookupAttributes: [
      { AttributeKey: 'EventName', AttributeValue: 'KeybridgeAdmin.GetCallerIdentity' },
      { AttributeKey: 'Username', AttributeValue: asUser['Arn'] },
    ],
  });
  assert.ok(found['Events'].length >= 1, JSON.stringify(found));
  assert.equal(JSON.parse(found['Events'][0].CloudTrailEvent).userIdentity.principalId, asUser['UserId']);
});

test('the other admin operations stay root-only', async () => {
  for (const operation of ['DescribeRequestMetrics', 'VerifyAuditTrail', 'ListPrincipals']) {
    for (const credentials of [user, role]) {
      const res = await admin(operation, {}, credentials);
      assert.equal(res.status, 400, `${operation}: ${JSON.stringify(res.json)}`);
      assert.equal(res.json['__type'], 'AccessDeniedException');
      assert.match(res.json['message'], new RegExp(`keybridge-admin:${operation}`));
    }
  }
});

test('DescribeRequestMetrics counts real KMS calls by operation and key store, errors included', async (t) => {
  keyId = (await kms.send(new CreateKeyCommand({ Description: 'charted' }))).KeyMetadata!.KeyId!;
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('one') }));
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('two') }));
  // Garbage ciphertext naming the key: the key is resolved, then the call fails.
  const failed = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: randomBytes(64) })).then(() => undefined, (err: Error) => err);
  assert.ok(failed, 'the garbage decrypt fails');
  t.diagnostic(`Decrypt of garbage failed with ${failed.name}`);

  const metrics = await ok('DescribeRequestMetrics');
  assert.equal(metrics['PeriodSeconds'], 10);
  assert.equal(metrics['Node'], NODE_ID);
  const periods = metrics['Periods'] as Array<Record<string, any>>;
  assert.equal(periods.length, 90, '15 minutes by default, every period present');
  const starts = periods.map((p) => p['StartTime'] as number);
  assert.deepEqual(starts, starts.map((_, i) => starts[0]! + i * 10), 'oldest first, a continuous axis');
  const now = server.clock.now() / 1000;
  assert.ok(starts[89]! <= now && now < starts[89]! + 10, 'the current period last');
  for (const p of periods) {
    if (p['Requests'] === 0) assert.deepEqual({ ...p, StartTime: 0 }, { StartTime: 0, Requests: 0, Errors: 0, Operations: [], Stores: [] });
  }

  // Everything this file did so far is in the window (it is far shorter than 15 minutes).
  const byOperation = sum(periods.flatMap((p) => p['Operations']), 'Operation');
  const byStore = sum(periods.flatMap((p) => p['Stores']), 'Store');
  assert.deepEqual(byOperation.get('CreateKey'), { Requests: 1, Errors: 0 });
  assert.deepEqual(byOperation.get('Encrypt'), { Requests: 2, Errors: 0 });
  assert.deepEqual(byOperation.get('Decrypt'), { Requests: 1, Errors: 1 });
  assert.deepEqual(byOperation.get('KeybridgeAdmin.CreatePrincipal'), { Requests: 2, Errors: 0 });
  assert.deepEqual(byOperation.get('KeybridgeAdmin.GetCallerIdentity'), { Requests: 4, Errors: 0 });
  assert.deepEqual(byOperation.get('KeybridgeAdmin.VerifyAuditTrail'), { Requests: 2, Errors: 2 });
  assert.deepEqual(byOperation.get('KeybridgeAdmin.DescribeRequestMetrics'), { Requests: 2, Errors: 2 }, 'the two refusals above; this call is counted after it answers');
  // The calls that acted on the key are the default key store's; the others touched no key.
  assert.deepEqual([...byStore.keys()], ['default']);
  assert.deepEqual(byStore.get('default'), { Requests: 3, Errors: 1 });
  const total = periods.reduce((n, p) => n + (p['Requests'] as number), 0);
  const errors = periods.reduce((n, p) => n + (p['Errors'] as number), 0);
  assert.equal(total, [...byOperation.values()].reduce((n, f) => n + f.Requests, 0));
  assert.equal(errors, [...byOperation.values()].reduce((n, f) => n + f.Errors, 0));

  const encrypt = periods.flatMap((p) => p['Operations']).find((o: Record<string, any>) => o['Operation'] === 'Encrypt');
  assert.ok(encrypt['AverageLatencyMs'] > 0 && encrypt['MaxLatencyMs'] >= encrypt['AverageLatencyMs'], JSON.stringify(encrypt));

  const lastMinute = await ok('DescribeRequestMetrics', { Minutes: 1 });
  assert.equal(lastMinute['Periods'].length, 6);
  assert.ok(lastMinute['Periods'].some((p: Record<string, any>) => p['Operations'].some((o: Record<string, any>) => o['Operation'] === 'KeybridgeAdmin.DescribeRequestMetrics')));
});

test('DescribeRequestMetrics refuses a bad Minutes, naming the member', async () => {
  for (const minutes of [0, 16, -1]) {
    const res = await admin('DescribeRequestMetrics', { Minutes: minutes });
    assert.equal(res.status, 400);
    assert.equal(res.json['__type'], 'ValidationException', JSON.stringify(res.json));
    assert.match(res.json['message'], /'minutes'/);
  }
  // A value of the wrong JSON type (a string, or a fraction for an integer member) is a
  // deserialisation failure, as everywhere in keybridge's and AWS's JSON protocol (src/operations/wire.ts).
  for (const minutes of ['x', 1.5]) {
    const res = await admin('DescribeRequestMetrics', { Minutes: minutes });
    assert.equal(res.status, 400);
    assert.equal(res.json['__type'], 'SerializationException', JSON.stringify(res.json));
    assert.match(res.json['message'], /'minutes'/);
  }
});

test('VerifyAuditTrail: intact after real calls, then the tampered record named', async (t) => {
  let intact = await ok('VerifyAuditTrail');
  for (let i = 0; i < 40 && intact['Digests']['Count'] === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    intact = await ok('VerifyAuditTrail');
  }
  t.diagnostic(`intact: ${JSON.stringify(intact)}`);
  assert.equal(intact['Valid'], true);
  assert.ok(intact['Records'] >= 10, `only ${intact['Records']} records`);
  assert.equal(intact['FirstSequence'], 1);
  assert.equal(intact['LastSequence'], intact['Records']);
  assert.match(intact['LastHash'], /^[0-9a-f]{64}$/);
  assert.deepEqual(intact['Problems'], []);
  assert.equal(intact['Problem'], undefined);
  const digests = intact['Digests'];
  assert.equal(digests['Checked'], true, 'the digests are checked with the service\'s signing key');
  assert.ok(digests['Count'] >= 1 && digests['LastHeadSequence'] <= intact['LastSequence'], JSON.stringify(digests));
  assert.equal(digests['UnsignedRecords'], intact['LastSequence'] - digests['LastHeadSequence']);
  assert.ok(digests['LastDigestTime'] > 0);
  assert.ok(Math.abs(intact['VerifiedAt'] - server.clock.now() / 1000) < 60);

  // Someone with access to the trail edits one record's source address (valid JSON, wrong content).
  await tamperRecord(2);
  const tampered = await ok('VerifyAuditTrail');
  t.diagnostic(`tampered: ${JSON.stringify(tampered)}`);
  assert.equal(tampered['Valid'], false);
  assert.equal(tampered['Records'], 1, 'intact before the problem');
  assert.equal(tampered['LastSequence'], 1);
  assert.equal(tampered['Problems'].length, 1);
  assert.match(tampered['Problems'][0], /^seq 2: altered: /);
  assert.deepEqual({ ...tampered['Problem'], Detail: undefined }, { Sequence: 2, Kind: 'altered', Detail: undefined });
});

test('a trail that cannot be read is an AWS error, not a verdict', async () => {
  const deps = { auditVerifier: fileTrailVerifier(join(server.dataDir, 'no-such-audit.db'), undefined), clock: server.clock } as unknown as AdminDeps;
  await assert.rejects(verifyAuditTrail.run({} as never, deps, {}), (err: unknown) => err instanceof KmsError && err.kmsName === 'KMSInternalException');
  await assert.rejects(verifyAuditTrail.run({} as never, { clock: server.clock } as unknown as AdminDeps, {}), (err: unknown) => err instanceof KmsError && err.kmsName === 'UnsupportedOperationException');
});

/** Requests and errors per label, summed over periods. */
function sum(entries: Array<Record<string, any>>, label: string): Map<string, { Requests: number; Errors: number }> {
  const out = new Map<string, { Requests: number; Errors: number }>();
  for (const e of entries) {
    const f = out.get(e[label]) ?? { Requests: 0, Errors: 0 };
    out.set(e[label], { Requests: f.Requests + e['Requests'], Errors: f.Errors + e['Errors'] });
  }
  return out;
}

/** Changes the sourceIPAddress of record `seq` in the trail the server writes (the SQLite file, or PostgreSQL's table). */
async function tamperRecord(seq: number): Promise<void> {
  const edit = (record: string) => JSON.stringify({ ...(JSON.parse(record) as Record<string, unknown>), sourceIPAddress: '203.0.113.66' });
  const url = postgresDatabaseOf(server.dataDir);
  if (url === undefined) {
    const db = new Database(join(server.dataDir, 'audit.db'), { timeout: 5000 });
    try {
      const row = db.prepare<[number], { record: string }>('SELECT record FROM audit_records WHERE seq = ?').get(seq)!;
      db.prepare('UPDATE audit_records SET record = ? WHERE seq = ?').run(edit(row.record), seq);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ record: string }>('SELECT record FROM audit_records WHERE seq = $1', [seq]);
    await client.query('UPDATE audit_records SET record = $1 WHERE seq = $2', [edit(rows[0]!.record), seq]);
  } finally {
    await client.end();
  }
}
