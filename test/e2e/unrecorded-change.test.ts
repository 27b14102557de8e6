// Nothing changes unrecorded: the audit trail is made unwritable at each point of a state-changing
// request — before it runs (its intent record) and after (its outcome record) — and in neither
// case is there a change the trail does not hold. The fault is injected beneath keybridge, in
// the audit database itself: a SQLite trigger that aborts the insert of the chosen record, as a
// full disk or an I/O error would.
//
//   intent refused  → the request fails with KMSInternalException and nothing changes;
//   outcome refused → the change was made, the request fails (not acknowledged), and the trail
//                     holds the intent naming the change (eventType KeybridgeIntent).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { rawRequest, type RawResponse } from '../support/raw-request.js';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let keyId: string;

before(async () => {
  server = await startServer();
  keyId = (await must('CreateKey', { Description: 'subject' })).KeyMetadata.KeyId;
});
after(async () => {
  await server?.destroy();
});

async function call(target: string, body: unknown): Promise<RawResponse> {
  return rawRequest(server, { target, body: JSON.stringify(body) });
}

async function must(operation: string, body: unknown): Promise<any> {
  const res = await call(`TrentService.${operation}`, body);
  assert.equal(res.status, 200, `${operation}: ${res.body}`);
  return res.json;
}

/** Runs `fn` while the audit database refuses to insert records of `eventType`. */
async function withTrailRefusing<T>(eventType: string, fn: () => Promise<T>): Promise<T> {
  const db = new Database(join(server.dataDir, 'audit.db'));
  try {
    db.pragma('busy_timeout = 5000');
    db.exec(
      `CREATE TRIGGER refuse_records BEFORE INSERT ON audit_records
         WHEN json_extract(NEW.record, '$.eventType') = '${eventType}'
         BEGIN SELECT RAISE(ABORT, 'injected: the audit disk is full'); END;`,
    );
    return await fn();
  } finally {
    db.exec('DROP TRIGGER IF EXISTS refuse_records');
    db.close();
  }
}

function recordsOf(requestId: string): Promise<Array<{ eventType: string; eventName: string; requestParameters: any; errorCode?: string }>> {
  return auditRecordsWhere(server.dataDir, '$.requestID', requestId);
}

interface Case {
  readonly name: string;
  readonly target: string;
  readonly body: () => unknown;
  /** What the visible state says about whether the change happened. */
  readonly changed: () => Promise<boolean>;
  /** Undo a change made in the outcome-refused case, so the next case starts clean. */
  readonly undo: () => Promise<void>;
}

async function keyCount(): Promise<number> {
  return (await must('ListKeys', { Limit: 1000 })).Keys.length;
}

let keysBefore = 0;
const CASES: Case[] = [
  {
    name: 'CreateKey',
    target: 'TrentService.CreateKey',
    body: () => ({ Description: 'unrecorded?' }),
    changed: async () => (await keyCount()) !== keysBefore,
    undo: async () => {
      keysBefore = await keyCount();
    },
  },
  {
    name: 'TagResource',
    target: 'TrentService.TagResource',
    body: () => ({ KeyId: keyId, Tags: [{ TagKey: 'owner', TagValue: 'mallory' }] }),
    changed: async () => (await must('ListResourceTags', { KeyId: keyId })).Tags.length > 0,
    undo: async () => void (await must('UntagResource', { KeyId: keyId, TagKeys: ['owner'] })),
  },
  {
    name: 'CreateGrant',
    target: 'TrentService.CreateGrant',
    body: () => ({ KeyId: keyId, GranteePrincipal: `arn:aws:iam::${server.accountId}:user/grantee`, Operations: ['Decrypt'] }),
    changed: async () => (await must('ListGrants', { KeyId: keyId })).Grants.length > 0,
    undo: async () => {
      for (const g of (await must('ListGrants', { KeyId: keyId })).Grants) await must('RevokeGrant', { KeyId: keyId, GrantId: g.GrantId });
    },
  },
  {
    name: 'ScheduleKeyDeletion',
    target: 'TrentService.ScheduleKeyDeletion',
    body: () => ({ KeyId: keyId, PendingWindowInDays: 7 }),
    changed: async () => (await must('DescribeKey', { KeyId: keyId })).KeyMetadata.KeyState !== 'Enabled',
    undo: async () => {
      await must('CancelKeyDeletion', { KeyId: keyId });
      await must('EnableKey', { KeyId: keyId });
    },
  },
  {
    name: 'CreateAlias',
    target: 'TrentService.CreateAlias',
    body: () => ({ AliasName: 'alias/unrecorded', TargetKeyId: keyId }),
    changed: async () => (await must('ListAliases', { KeyId: keyId })).Aliases.length > 0,
    undo: async () => void (await must('DeleteAlias', { AliasName: 'alias/unrecorded' })),
  },
  {
    name: 'KeybridgeAdmin.CreatePrincipal',
    target: 'KeybridgeAdmin.CreatePrincipal',
    body: () => ({ AccountId: server.accountId, Type: 'User', Name: 'unrecorded' }),
    changed: async () => {
      const res = await call('KeybridgeAdmin.GetPrincipal', { PrincipalArn: `arn:aws:iam::${server.accountId}:user/unrecorded` });
      return res.status === 200;
    },
    undo: async () => {
      const res = await call('KeybridgeAdmin.DeletePrincipal', { PrincipalArn: `arn:aws:iam::${server.accountId}:user/unrecorded` });
      assert.equal(res.status, 200, res.body);
    },
  },
];

describe('the audit trail unwritable at each point of a state-changing request', () => {
  for (const c of CASES) {
    test(`${c.name}: intent refused → nothing changes; outcome refused → the change is in the trail as an intent`, async () => {
      keysBefore = await keyCount();
      assert.equal(await c.changed(), false, 'clean start');

      // 1. The trail cannot take the intent: the operation never runs.
      const refused = await withTrailRefusing('KeybridgeIntent', () => call(c.target, c.body()));
      assert.equal(refused.status, 500, refused.body);
      assert.equal(refused.json.__type, 'KMSInternalException');
      assert.equal(await c.changed(), false, 'a request whose intent could not be recorded changed state');

      // 2. The trail takes the intent but not the outcome: the change happened and is recorded.
      const unacknowledged = await withTrailRefusing('AwsApiCall', () => call(c.target, c.body()));
      assert.equal(unacknowledged.status, 500, unacknowledged.body);
      assert.equal(unacknowledged.json.__type, 'KMSInternalException');
      assert.equal(await c.changed(), true, 'the operation ran once its intent was durable');
      const requestId = unacknowledged.headers['x-amzn-requestid'] as string;
      const records = await recordsOf(requestId);
      assert.deepEqual(records.map((r) => r.eventType), ['KeybridgeIntent'], 'the change is in the trail, as an intent without an outcome');
      assert.equal(records[0]!.eventName, c.name);
      await c.undo();

      // 3. A writable trail: intent then outcome, one request id.
      const ok = await call(c.target, c.body());
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual((await recordsOf(ok.headers['x-amzn-requestid'] as string)).map((r) => r.eventType), ['KeybridgeIntent', 'AwsApiCall']);
      await c.undo();
    });
  }

  test('read-only and cryptographic calls write no intent', async () => {
    for (const [op, body] of [
      ['DescribeKey', { KeyId: keyId }],
      ['Encrypt', { KeyId: keyId, Plaintext: Buffer.from('x').toString('base64') }],
      ['ListKeys', {}],
    ] as const) {
      const res = await call(`TrentService.${op}`, body);
      assert.equal(res.status, 200, res.body);
      assert.deepEqual((await recordsOf(res.headers['x-amzn-requestid'] as string)).map((r) => r.eventType), ['AwsApiCall'], op);
    }
  });
});

/** The DeleteKey records (intent and service event) of one key, in trail order. */
function deleteKeyRecordsOf(keyArn: string): Array<{ eventType: string; eventID: string; additionalEventData?: { outcomeEventID?: string } }> {
  const db = new Database(join(server.dataDir, 'audit.db'), { readonly: true });
  try {
    return db
      .prepare<[string], string>("SELECT record FROM audit_records WHERE json_extract(record, '$.eventName') = 'DeleteKey' AND json_extract(record, '$.resources[0].ARN') = ? ORDER BY seq")
      .pluck()
      .all(keyArn)
      .map((text) => JSON.parse(text));
  } finally {
    db.close();
  }
}

describe('the deletion sweeper with the trail unwritable', () => {
  test('intent refused → the key is not deleted (retried later); outcome refused → deleted, and the trail holds its intent', async () => {
    const doomed = (await must('CreateKey', { Description: 'doomed' })).KeyMetadata;
    await must('ScheduleKeyDeletion', { KeyId: doomed.KeyId, PendingWindowInDays: 7 });
    server.clock.advance(8 * 86_400_000);

    const refused = await withTrailRefusing('KeybridgeIntent', () => server.keybridge.sweeper.sweepOnce());
    assert.deepEqual(refused, [], 'nothing was deleted');
    assert.equal((await must('DescribeKey', { KeyId: doomed.KeyId })).KeyMetadata.KeyState, 'PendingDeletion');
    assert.deepEqual(deleteKeyRecordsOf(doomed.Arn), []);

    const deleted = await withTrailRefusing('AwsServiceEvent', () => server.keybridge.sweeper.sweepOnce());
    assert.deepEqual(deleted, [doomed.KeyId]);
    const gone = await call('TrentService.DescribeKey', { KeyId: doomed.KeyId });
    assert.equal(gone.json.__type, 'NotFoundException');
    const records = deleteKeyRecordsOf(doomed.Arn);
    assert.deepEqual(records.map((r) => r.eventType), ['KeybridgeIntent'], 'the deletion is in the trail as an intent');
    assert.match(records[0]!.additionalEventData?.outcomeEventID ?? '', /^[0-9a-f-]{36}$/);
  });

  test('a writable trail: the intent names the DeleteKey event that follows it', async () => {
    const doomed = (await must('CreateKey', { Description: 'doomed too' })).KeyMetadata;
    await must('ScheduleKeyDeletion', { KeyId: doomed.KeyId, PendingWindowInDays: 7 });
    server.clock.advance(8 * 86_400_000);
    assert.ok((await server.keybridge.sweeper.sweepOnce()).includes(doomed.KeyId));
    const records = deleteKeyRecordsOf(doomed.Arn);
    assert.deepEqual(records.map((r) => r.eventType), ['KeybridgeIntent', 'AwsServiceEvent']);
    assert.equal(records[0]!.additionalEventData?.outcomeEventID, records[1]!.eventID);
  });
});
