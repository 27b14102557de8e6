// Intent records: written before a mutating call runs, shaped like the outcome record, left out of
// CloudTrail exports once their outcome exists, kept (and shown by tail) when it does not.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { AuditTrail } from '../../src/audit/audit-store.js';
import type { ApiCallInput, CloudTrailEvent } from '../../src/audit/event.js';
import { exportAuditFile, MANIFEST_NAME } from '../../src/audit/export.js';
import { needsIntent } from '../../src/audit/operation-rules.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { runCli } from '../support/cli.js';

const SANDBOX = mkdtempSync(join(tmpdir(), 'keybridge-intent-'));
after(() => rmSync(SANDBOX, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });

const KEY = { arn: 'arn:aws:kms:us-east-1:111122223333:key/k1', accountId: '111122223333' };

function call(requestId: string, second: number, extra: Partial<ApiCallInput> = {}): ApiCallInput {
  return {
    time: new Date(Date.UTC(2025, 0, 1, 0, 0, second)), requestId, region: 'us-east-1', account: '111122223333', sourceIp: '127.0.0.1', userAgent: 'test',
    principal: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', userName: 'alice', accessKeyId: 'AKIDEXAMPLE' },
    eventName: 'ScheduleKeyDeletion', request: { KeyId: 'k1', PendingWindowInDays: 7 }, response: { KeyId: KEY.arn, DeletionDate: 1735700000, KeyState: 'PendingDeletion', PendingWindowInDays: 7 },
    key: KEY, ...extra,
  };
}

function exported(dir: string): CloudTrailEvent[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== MANIFEST_NAME)
    .sort()
    .flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { Records: CloudTrailEvent[] }).Records);
}

describe('intent records', () => {
  test('needsIntent: every call that is not read-only, unknown names included', () => {
    for (const name of ['CreateKey', 'ScheduleKeyDeletion', 'PutKeyPolicy', 'CreateAlias', 'ConnectCustomKeyStore', 'NoSuchOperation']) assert.equal(needsIntent(name), true, name);
    for (const name of ['Encrypt', 'Decrypt', 'Sign', 'GenerateRandom', 'DescribeKey', 'ListKeys', 'GetKeyPolicy']) assert.equal(needsIntent(name), false, name);
  });

  test('recordIntent appends a KeybridgeIntent event shaped like the outcome, without response or error', async () => {
    const dir = mkdtempSync(join(SANDBOX, 'shape-'));
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger });
    await trail.recordIntent(call('req-a', 1, { error: { name: 'ShouldBeIgnored', message: 'x' } }));
    await trail.recordApiCall(call('req-a', 2));
    await trail.close();
    const db = new Database(path, { readonly: true });
    const [intent, outcome] = db.prepare<[], string>('SELECT record FROM audit_records ORDER BY seq').pluck().all().map((t) => JSON.parse(t) as CloudTrailEvent);
    db.close();
    assert.equal(intent!.eventType, 'KeybridgeIntent');
    assert.equal(outcome!.eventType, 'AwsApiCall');
    assert.equal(intent!.responseElements, null);
    assert.equal(intent!.errorCode, undefined);
    assert.notEqual(outcome!.responseElements, null, 'the outcome records ScheduleKeyDeletion\'s response');
    for (const field of ['userIdentity', 'eventName', 'requestParameters', 'requestID', 'resources', 'readOnly', 'eventSource', 'recipientAccountId'] as const) {
      assert.deepEqual(intent![field], outcome![field], field);
    }
    assert.notEqual(intent!.eventID, outcome!.eventID);
    assert.equal(verifyAuditFile(path).ok, true);
  });

  test('export leaves out intents whose outcome exists (even after the window) and keeps the ones without', async () => {
    const dir = mkdtempSync(join(SANDBOX, 'export-'));
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger });
    await trail.recordIntent(call('req-ok', 1));
    await trail.recordApiCall(call('req-ok', 2));
    await trail.recordIntent(call('req-failed', 3));
    await trail.recordApiCall(call('req-failed', 4, { error: { name: 'KMSInvalidStateException', message: 'no' } }));
    await trail.recordIntent(call('req-unknown', 5)); // the process "died": no outcome
    await trail.recordApiCall(call('req-read', 6, { eventName: 'DescribeKey', request: { KeyId: 'k1' }, response: {} }));
    await trail.recordIntent(call('req-late', 7));
    // An outcome whose requestID matches but that is a service event does not resolve an intent.
    await trail.serviceEvent({ eventName: 'DeleteKey', time: new Date(Date.UTC(2025, 0, 1, 0, 0, 8)), region: 'us-east-1', key: KEY });
    await trail.recordApiCall(call('req-late', 0, { time: new Date(Date.UTC(2025, 0, 1, 1, 0, 0)) })); // outcome in a later window
    await trail.close();

    const out = join(dir, 'window');
    const result = exportAuditFile(path, out, { until: new Date(Date.UTC(2025, 0, 1, 0, 30)) });
    const records = exported(out);
    assert.deepEqual(
      records.map((r) => [r.requestID ?? '-', r.eventType]),
      [
        ['req-ok', 'AwsApiCall'],
        ['req-failed', 'AwsApiCall'],
        ['req-unknown', 'KeybridgeIntent'],
        ['req-read', 'AwsApiCall'],
        ['-', 'AwsServiceEvent'],
      ],
    );
    assert.deepEqual([result.records, result.intentsOmitted, result.intentsWithoutOutcome], [5, 3, 1]);
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST_NAME), 'utf8')) as { intentsOmitted: number; intentsWithoutOutcome: number };
    assert.deepEqual([manifest.intentsOmitted, manifest.intentsWithoutOutcome], [3, 1]);

    // The whole trail: the late outcome is in it too.
    const all = exportAuditFile(path, join(dir, 'all'));
    assert.equal(all.records, 6);
    assert.equal(exported(join(dir, 'all')).filter((r) => r.eventType === 'KeybridgeIntent').length, 1);
  });

  test('a service intent (the sweeper\'s DeleteKey) is resolved by the event whose eventID it names, and only by that', async () => {
    const dir = mkdtempSync(join(SANDBOX, 'service-'));
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger });
    const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second));
    const other = { arn: 'arn:aws:kms:us-east-1:111122223333:key/k2', accountId: '111122223333' };
    await trail.serviceIntent({ eventName: 'DeleteKey', time: at(1), region: 'us-east-1', key: KEY, eventId: 'deletion-1' });
    await trail.serviceEvent({ eventName: 'DeleteKey', time: at(2), region: 'us-east-1', key: KEY, eventId: 'deletion-1' });
    await trail.serviceIntent({ eventName: 'DeleteKey', time: at(3), region: 'us-east-1', key: other, eventId: 'deletion-2' }); // never completed
    await trail.serviceEvent({ eventName: 'DeleteKey', time: at(4), region: 'us-east-1', key: other, eventId: 'unrelated' });
    await trail.close();

    const db = new Database(path, { readonly: true });
    const intent = JSON.parse(db.prepare<[], string>("SELECT record FROM audit_records WHERE seq = 1").pluck().get()!) as CloudTrailEvent;
    db.close();
    assert.equal(intent.eventType, 'KeybridgeIntent');
    assert.equal(intent.responseElements, null);
    assert.notEqual(intent.eventID, 'deletion-1');
    assert.equal((intent.additionalEventData as { outcomeEventID?: string }).outcomeEventID, 'deletion-1');
    assert.deepEqual(intent.resources, [{ accountId: KEY.accountId, type: 'AWS::KMS::Key', ARN: KEY.arn }]);

    const out = join(dir, 'out');
    const result = exportAuditFile(path, out);
    assert.deepEqual(
      exported(out).map((r) => [r.eventType, r.resources?.[0]?.ARN]),
      [
        ['AwsServiceEvent', KEY.arn],
        ['KeybridgeIntent', other.arn],
        ['AwsServiceEvent', other.arn],
      ],
    );
    assert.deepEqual([result.intentsOmitted, result.intentsWithoutOutcome], [1, 1]);
  });

  test('tail marks intents as INTENT', async () => {
    const dir = mkdtempSync(join(SANDBOX, 'tail-'));
    const trail = await AuditTrail.open({ path: join(dir, 'audit.db'), logger });
    await trail.recordIntent(call('req-t', 1));
    await trail.recordApiCall(call('req-t', 2));
    await trail.close();
    const r = await runCli(['audit', 'tail', '--data-dir', dir, '-n', '2'], { home: SANDBOX });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split('  ').slice(2).join(' | ')), [
      'ScheduleKeyDeletion | arn:aws:iam::111122223333:user/alice | 127.0.0.1 | INTENT',
      'ScheduleKeyDeletion | arn:aws:iam::111122223333:user/alice | 127.0.0.1 | OK',
    ]);
  });
});
