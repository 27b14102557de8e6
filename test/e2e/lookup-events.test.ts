// KeybridgeAdmin.LookupEvents (issue #18's audit view, on the admin API): the trail's events the
// way CloudTrail's LookupEvents answers them — newest first, by time range and lookup attributes,
// paged with NextToken — read from the trail the service writes, through real SigV4 requests.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';

import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { runCliAgainst } from '../support/cli.js';
import { sdkClient } from '../support/kms-client.js';
import { rawRequest } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let kms: KMSClient;
let keyId: string;
let keyArn: string;
let deniedArn: string;
let deniedCredentials: { accessKeyId: string; secretAccessKey: string };

interface LookupEvent {
  EventId: string;
  EventName: string;
  EventTime: number;
  Username?: string;
  AccessKeyId?: string;
  ReadOnly: string;
  Resources: Array<{ ResourceType: string; ResourceName: string }>;
  CloudTrailEvent: string;
}

async function lookup(body: Record<string, unknown>, credentials?: { accessKeyId: string; secretAccessKey: string }) {
  const res = await rawRequest(server, { target: 'KeybridgeAdmin.LookupEvents', body: JSON.stringify(body), ...(credentials === undefined ? {} : { credentials }) });
  return { status: res.status, json: res.json as { Events?: LookupEvent[]; NextToken?: string; __type?: string; message?: string } };
}

async function events(body: Record<string, unknown>): Promise<LookupEvent[]> {
  const res = await lookup(body);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return res.json.Events!;
}

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
  const created = await kms.send(new CreateKeyCommand({ Description: 'looked up' }));
  keyId = created.KeyMetadata!.KeyId!;
  keyArn = created.KeyMetadata!.Arn!;
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('one') }));
  await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('two') }));
  await kms.send(new DescribeKeyCommand({ KeyId: '11111111-2222-3333-4444-555555555555' })).catch(() => undefined);
  // A principal with no permissions: its call is denied, and it may not read the trail either.
  const made = await runCliAgainst(server, ['principals', 'create', '--account', server.accountId, '--user', 'lookup-denied']);
  assert.equal(made.code, 0, made.stderr);
  deniedArn = `arn:aws:iam::${server.accountId}:user/lookup-denied`;
  deniedCredentials = readCredentialsFile(server.credentialsFile).get('lookup-denied')!;
  await sdkClient(server, deniedCredentials).send(new DescribeKeyCommand({ KeyId: keyId })).catch(() => undefined);
});

after(async () => {
  await server?.stop();
});

test('events come newest first with CloudTrail\'s fields and the whole record; one event per request, intents left out', async () => {
  const all = await events({});
  assert.ok(all.length >= 6, `only ${all.length} events`);
  const times = all.map((e) => e.EventTime);
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  const creates = all.filter((e) => e.EventName === 'CreateKey' && e.Resources.some((r) => r.ResourceName === keyArn));
  assert.equal(creates.length, 1, 'the CreateKey call once (its intent record is not an event)');
  const record = JSON.parse(creates[0]!.CloudTrailEvent) as Record<string, unknown>;
  assert.equal(record['eventName'], 'CreateKey');
  assert.equal(record['eventID'], creates[0]!.EventId);
  assert.equal(record['eventType'], 'AwsApiCall');
  assert.equal(Date.parse(String(record['eventTime'])) / 1000, creates[0]!.EventTime);
  assert.equal(creates[0]!.ReadOnly, 'false');
  assert.deepEqual(creates[0]!.Resources, [{ ResourceType: 'AWS::KMS::Key', ResourceName: keyArn }]);
  assert.equal(creates[0]!.AccessKeyId, server.credentials.accessKeyId);
  assert.ok(!all.some((e) => e.CloudTrailEvent.includes(Buffer.from('one').toString('base64'))), 'no plaintext in any event');
});

test('lookup attributes filter, several at once must all match', async () => {
  const byName = await events({ LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'Encrypt' }] });
  assert.ok(byName.length >= 2 && byName.every((e) => e.EventName === 'Encrypt'));
  // A key by its id or its ARN.
  for (const name of [keyId, keyArn]) {
    const onKey = await events({ LookupAttributes: [{ AttributeKey: 'ResourceName', AttributeValue: name }] });
    assert.deepEqual(new Set(onKey.map((e) => e.EventName)), new Set(['CreateKey', 'Encrypt', 'DescribeKey']), `events on ${name}`);
  }
  const failed = await events({ LookupAttributes: [{ AttributeKey: 'Outcome', AttributeValue: 'Error' }] });
  assert.ok(failed.some((e) => JSON.parse(e.CloudTrailEvent).errorCode === 'NotFoundException'));
  assert.ok(failed.every((e) => JSON.parse(e.CloudTrailEvent).errorCode !== undefined));
  const succeeded = await events({ LookupAttributes: [{ AttributeKey: 'Outcome', AttributeValue: 'Success' }] });
  assert.ok(succeeded.length > 0 && succeeded.every((e) => JSON.parse(e.CloudTrailEvent).errorCode === undefined));
  const denied = await events({
    LookupAttributes: [
      { AttributeKey: 'Username', AttributeValue: deniedArn },
      { AttributeKey: 'ErrorCode', AttributeValue: 'AccessDeniedException' },
      { AttributeKey: 'EventName', AttributeValue: 'DescribeKey' },
    ],
  });
  assert.equal(denied.length, 1, JSON.stringify(denied));
  assert.equal(denied[0]!.Username, 'lookup-denied', 'CloudTrail\'s Username: the user name');
  assert.deepEqual(await events({ LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: denied[0]!.EventId }] }), denied);
});

test('pages of MaxResults follow NextToken to the same events, none twice; a time range bounds them', async () => {
  const whole = await events({ MaxResults: 50 });
  const paged: LookupEvent[] = [];
  let token: string | undefined;
  do {
    const res = await lookup({ MaxResults: 2, ...(token === undefined ? {} : { NextToken: token }) });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.ok(res.json.Events!.length <= 2);
    paged.push(...res.json.Events!);
    token = res.json.NextToken;
  } while (token !== undefined);
  // Events recorded meanwhile (the lookups themselves) are newer than the first page: the pages
  // hold exactly the events the whole answer held, in order.
  const ids = paged.map((e) => e.EventId);
  assert.equal(new Set(ids).size, ids.length, 'an event came twice');
  const wholeIds = whole.map((e) => e.EventId);
  assert.deepEqual(ids.slice(ids.indexOf(wholeIds[0]!)).slice(0, wholeIds.length), wholeIds);

  const future = Date.now() / 1000 + 3600;
  assert.deepEqual(await events({ StartTime: future, EndTime: future + 60 }), []);
  const creates = await events({ StartTime: whole.at(-1)!.EventTime, EndTime: new Date(whole[0]!.EventTime * 1000).toISOString(), LookupAttributes: [{ AttributeKey: 'EventName', AttributeValue: 'CreateKey' }] });
  assert.ok(creates.some((e) => e.Resources.some((r) => r.ResourceName === keyArn)));
});

test('bad input is an AWS error naming the problem; a principal other than the operator is denied', async () => {
  const reversed = await lookup({ StartTime: 2000, EndTime: 1000 });
  assert.equal(reversed.status, 400);
  assert.equal(reversed.json.__type, 'ValidationException');
  assert.match(reversed.json.message ?? '', /StartTime/u);
  const badToken = await lookup({ NextToken: 'not-a-token' });
  assert.equal(badToken.status, 400);
  assert.equal(badToken.json.__type, 'InvalidMarkerException');
  const badKey = await lookup({ LookupAttributes: [{ AttributeKey: 'Color', AttributeValue: 'red' }] });
  assert.equal(badKey.status, 400);
  assert.equal(badKey.json.__type, 'ValidationException');
  const tooMany = await lookup({ MaxResults: 51 });
  assert.equal(tooMany.json.__type, 'ValidationException');
  const notOperator = await lookup({}, deniedCredentials);
  assert.equal(notOperator.status, 400);
  assert.equal(notOperator.json.__type, 'AccessDeniedException');
});
