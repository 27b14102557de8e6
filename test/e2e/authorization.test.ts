// Issue #5's "Done when", end to end through real clients on one real server: principals created
// with `keybridge principals create`, a key policy that lets only alice encrypt under an
// encryption-context condition (and denies bob outright) enforced for the AWS CLI as AWS enforces
// it, a grant that lets bob decrypt until it is revoked, an IAM identity policy honoured through
// the default key policy's delegation to the account — then every one of those calls found in
// <data-dir>/audit.db (exported with `keybridge audit export`) with CloudTrail's fields and no
// plaintext, and tampering with the stopped server's trail caught by `keybridge audit verify`.
//
// Every AWS CLI call runs with --debug so that the x-amzn-requestid header the server answered
// can be matched with the record's requestID: each call is looked up by its own request id.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { readCredentialsFile, writeCredentialsProfile } from '../../src/auth/credentials-file.js';
import { awsCliMissing, awsKms } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { runCliAgainst, type CliRun } from '../support/cli.js';

const ACCOUNT = '111122223333';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
const CAROL = `arn:aws:iam::${ACCOUNT}:user/carol`;
const FINANCE = { Department: 'Finance' };
const SALES = { Department: 'Sales' };
/** What alice encrypts: it must appear in no audit record, raw, base64 or hex. */
const PLAINTEXT = `ledger: pay 1,000,000 to ACME ${randomBytes(8).toString('hex')}`;

let server: TestServer;
const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
let fileCount = 0;

function file(content: Buffer | string): string {
  const path = join(server.dataDir, `in-${++fileCount}`);
  writeFileSync(path, content);
  return path;
}


/** `keybridge --endpoint-url … --data-dir … <args>` with a clean environment (operator profile). */
function keybridge(args: readonly string[]): Promise<CliRun> {
  return runCliAgainst(server, args);
}

/** What the trail must hold for one call, looked up by the request id the server answered. */
interface Expected {
  readonly requestId: string;
  readonly eventName: string;
  /** The caller; undefined for a call whose signature was refused. */
  readonly arn: string | undefined;
  readonly accessKeyId: string;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly keyArn?: string;
  readonly encryptionContext?: Record<string, string>;
}
const expected: Expected[] = [];

interface Call {
  readonly json: any;
  readonly requestId: string;
  /** The AWS CLI's "An error occurred (<code>) when calling the <op> operation: <message>". */
  readonly error?: { code: string; operation: string; message: string };
}

/**
 * `AWS_PROFILE=<profile> aws kms <args> --debug`, remembering what the trail must show for it.
 * Exit 0 with JSON on success; 254 and the error line on failure.
 */
async function aws(profile: string, args: string[], audit: Omit<Expected, 'requestId' | 'arn' | 'accessKeyId' | 'errorCode' | 'errorMessage'> & { arn?: string | undefined }): Promise<Call> {
  const r = await awsKms(server, [...args, '--debug'], { AWS_PROFILE: profile });
  const ids = new Set([...r.stderr.matchAll(/'x-amzn-requestid': '([0-9a-f-]{36})'/gi)].map((m) => m[1]!));
  assert.equal(ids.size, 1, `one x-amzn-requestid in the --debug output of aws kms ${args.join(' ')}: ${[...ids].join(', ')}`);
  const requestId = [...ids][0]!;
  const m = /An error occurred \(([A-Za-z]+)\) when calling the ([A-Za-z]+) operation(?: \(reached max retries: \d+\))?: (.*)/.exec(r.stderr);
  const error = m ? { code: m[1]!, operation: m[2]!, message: m[3]!.trim() } : undefined;
  if (error) assert.equal(r.code, 254, r.stderr.slice(-2000));
  else assert.equal(r.code, 0, `aws kms ${args.join(' ')} as ${profile} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const key = readCredentialsFile(server.credentialsFile).get(profile)!;
  expected.push({
    ...audit,
    requestId,
    arn: 'arn' in audit ? audit.arn : arnOf(profile),
    accessKeyId: key.accessKeyId,
    ...(error ? { errorCode: error.code, errorMessage: error.message } : {}),
  });
  return { json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined, requestId, ...(error ? { error } : {}) };
}

function arnOf(profile: string): string {
  return { keybridge: ROOT, alice: ALICE, bob: BOB, carol: CAROL }[profile] ?? assert.fail(`no ARN for profile ${profile}`);
}

/** The call must be refused with AccessDeniedException and exactly this message. */
function denied(call: Call, operation: string, message: string): void {
  assert.ok(call.error, `${operation} should have been denied`);
  assert.deepEqual(call.error, { code: 'AccessDeniedException', operation, message });
}

const notAuthorized = (who: string, action: string, keyArn: string) => `User: ${who} is not authorized to perform: ${action} on resource: ${keyArn}`;

const keyPolicy = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Id: 'authorization-e2e', Statement: statements });
const ENABLE_IAM = { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: ROOT }, Action: 'kms:*', Resource: '*' };
const ALICE_ENCRYPTS_FINANCE = {
  Sid: 'Alice encrypts for Finance only',
  Effect: 'Allow',
  Principal: { AWS: ALICE },
  Action: 'kms:Encrypt',
  Resource: '*',
  Condition: { StringEquals: { 'kms:EncryptionContext:Department': 'Finance' } },
};

/** The finance key: the policy the issue describes. */
let finance: { id: string; arn: string };
/** alice's ciphertext under the finance key (Department=Finance), as the CLI prints it (base64). */
let financeCiphertext: string;

before(async () => {
  server = await startServer();
  assert.equal(server.accountId, ACCOUNT);
});
after(async () => {
  await server?.destroy();
});

describe('authorization and audit end to end', { skip: awsCliMissing }, () => {
  test('principals alice, bob and carol are created with the CLI; their profiles land in <data-dir>/credentials', async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const r = await keybridge(['principals', 'create', '--account', ACCOUNT, '--user', user]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`arn:aws:iam::${ACCOUNT}:user/${user}: created`));
    }
    const profiles = readCredentialsFile(server.credentialsFile);
    assert.deepEqual([...profiles.keys()].sort(), ['alice', 'bob', 'carol', 'keybridge']);
    const ids = [...profiles.values()].map((p) => p.accessKeyId);
    assert.equal(new Set(ids).size, 4, 'every profile has its own access key');
  });

  test('the operator creates the finance key and puts its policy; a policy that would lock the operator out is refused', async () => {
    const created = await aws('keybridge', ['create-key', '--description', 'finance ledger'], { eventName: 'CreateKey' });
    finance = { id: created.json.KeyMetadata.KeyId, arn: created.json.KeyMetadata.Arn };
    assert.equal(finance.arn, `arn:aws:kms:${server.region}:${ACCOUNT}:key/${finance.id}`);
    expected[expected.length - 1] = { ...expected.at(-1)!, keyArn: finance.arn };

    const policy = keyPolicy([
      ENABLE_IAM,
      ALICE_ENCRYPTS_FINANCE,
      { Sid: 'Alice describes', Effect: 'Allow', Principal: { AWS: ALICE }, Action: 'kms:DescribeKey', Resource: '*' },
      { Sid: 'Never bob', Effect: 'Deny', Principal: { AWS: BOB }, Action: 'kms:Encrypt', Resource: '*' },
    ]);
    const put = await aws('keybridge', ['put-key-policy', '--key-id', finance.id, '--policy-name', 'default', '--policy', `file://${file(policy)}`], {
      eventName: 'PutKeyPolicy',
      keyArn: finance.arn,
    });
    assert.equal(put.error, undefined);
    const got = await aws('keybridge', ['get-key-policy', '--key-id', finance.id, '--policy-name', 'default'], { eventName: 'GetKeyPolicy', keyArn: finance.arn });
    assert.deepEqual(JSON.parse(got.json.Policy), JSON.parse(policy));

    // Without the root statement the operator (the account root) could no longer change the policy.
    const lockout = await aws('keybridge', ['put-key-policy', '--key-id', finance.id, '--policy-name', 'default', '--policy', `file://${file(keyPolicy([ALICE_ENCRYPTS_FINANCE]))}`], {
      eventName: 'PutKeyPolicy',
      keyArn: finance.arn,
    });
    assert.equal(lockout.error?.code, 'MalformedPolicyDocumentException', JSON.stringify(lockout));
    assert.equal(lockout.error!.message, 'The new key policy will not allow you to update the key policy in the future.');
  });

  test('alice: Encrypt with Department=Finance succeeds; without it or with Sales she is denied; DescribeKey yes, Decrypt no', async () => {
    const plaintext = file(PLAINTEXT);
    const ok = await aws('alice', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${plaintext}`, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Encrypt',
      keyArn: finance.arn,
      encryptionContext: FINANCE,
    });
    assert.equal(ok.json.KeyId, finance.arn);
    financeCiphertext = ok.json.CiphertextBlob;
    assert.ok(Buffer.from(financeCiphertext, 'base64').length > PLAINTEXT.length);

    // The key policy delegates to the account ("Enable IAM User Permissions"), so with the
    // condition unmet AWS names the missing identity-based allow.
    const message = `${notAuthorized(ALICE, 'kms:Encrypt', finance.arn)} because no identity-based policy allows the kms:Encrypt action`;
    const noContext = await aws('alice', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${plaintext}`], { eventName: 'Encrypt', keyArn: finance.arn });
    denied(noContext, 'Encrypt', message);
    const sales = await aws('alice', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${plaintext}`, '--encryption-context', JSON.stringify(SALES)], {
      eventName: 'Encrypt',
      keyArn: finance.arn,
      encryptionContext: SALES,
    });
    denied(sales, 'Encrypt', message);
    // StringEquals is case-sensitive in the value.
    const lower = await aws('alice', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${plaintext}`, '--encryption-context', '{"Department":"finance"}'], {
      eventName: 'Encrypt',
      keyArn: finance.arn,
      encryptionContext: { Department: 'finance' },
    });
    denied(lower, 'Encrypt', message);

    const described = await aws('alice', ['describe-key', '--key-id', finance.arn], { eventName: 'DescribeKey', keyArn: finance.arn });
    assert.equal(described.json.KeyMetadata.Arn, finance.arn);

    const decrypt = await aws('alice', ['decrypt', '--ciphertext-blob', `fileb://${file(Buffer.from(financeCiphertext, 'base64'))}`, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Decrypt',
      keyArn: finance.arn,
      encryptionContext: FINANCE,
    });
    denied(decrypt, 'Decrypt', `${notAuthorized(ALICE, 'kms:Decrypt', finance.arn)} because no identity-based policy allows the kms:Decrypt action`);
  });

  test('bob: Encrypt is refused by the explicit Deny, even with context; Decrypt has no allow', async () => {
    const enc = await aws('bob', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${file('bob was here')}`, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Encrypt',
      keyArn: finance.arn,
      encryptionContext: FINANCE,
    });
    denied(enc, 'Encrypt', `${notAuthorized(BOB, 'kms:Encrypt', finance.arn)} with an explicit deny in a resource-based policy`);
    const dec = await aws('bob', ['decrypt', '--ciphertext-blob', `fileb://${file(Buffer.from(financeCiphertext, 'base64'))}`, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Decrypt',
      keyArn: finance.arn,
      encryptionContext: FINANCE,
    });
    denied(dec, 'Decrypt', `${notAuthorized(BOB, 'kms:Decrypt', finance.arn)} because no identity-based policy allows the kms:Decrypt action`);
  });

  test('a grant lets bob decrypt alice\'s ciphertext with the right context (with or without its token) until it is revoked', async () => {
    const ciphertext = `fileb://${file(Buffer.from(financeCiphertext, 'base64'))}`;
    const grant = await aws(
      'keybridge',
      ['create-grant', '--key-id', finance.id, '--grantee-principal', BOB, '--operations', 'Decrypt', '--constraints', JSON.stringify({ EncryptionContextSubset: FINANCE })],
      { eventName: 'CreateGrant', keyArn: finance.arn },
    );
    const { GrantId: grantId, GrantToken: grantToken } = grant.json as { GrantId: string; GrantToken: string };
    assert.match(grantId, /^[0-9a-f]{64}$/);

    const decrypt = (context: Record<string, string>, token?: string) =>
      aws('bob', ['decrypt', '--ciphertext-blob', ciphertext, '--encryption-context', JSON.stringify(context), ...(token ? ['--grant-tokens', token] : [])], {
        eventName: 'Decrypt',
        keyArn: finance.arn,
        encryptionContext: context,
      });
    const withToken = await decrypt(FINANCE, grantToken);
    assert.equal(Buffer.from(withToken.json.Plaintext, 'base64').toString(), PLAINTEXT);
    assert.equal(withToken.json.KeyId, finance.arn);
    const withoutToken = await decrypt(FINANCE);
    assert.equal(Buffer.from(withoutToken.json.Plaintext, 'base64').toString(), PLAINTEXT);

    // The grant's constraint is not met: denied before any decryption is tried.
    const deniedMessage = `${notAuthorized(BOB, 'kms:Decrypt', finance.arn)} because no identity-based policy allows the kms:Decrypt action`;
    denied(await decrypt(SALES, grantToken), 'Decrypt', deniedMessage);
    // A superset meets EncryptionContextSubset, so the grant allows; the context then does not
    // authenticate the ciphertext, as AWS answers.
    const superset = await decrypt({ ...FINANCE, Quarter: 'Q3' });
    assert.equal(superset.error?.code, 'InvalidCiphertextException', JSON.stringify(superset));

    // A grant never overrides an explicit Deny.
    const encryptGrant = await aws('keybridge', ['create-grant', '--key-id', finance.id, '--grantee-principal', BOB, '--operations', 'Encrypt'], {
      eventName: 'CreateGrant',
      keyArn: finance.arn,
    });
    const stillDenied = await aws(
      'bob',
      ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${file('bob again')}`, '--encryption-context', JSON.stringify(FINANCE), '--grant-tokens', encryptGrant.json.GrantToken],
      { eventName: 'Encrypt', keyArn: finance.arn, encryptionContext: FINANCE },
    );
    denied(stillDenied, 'Encrypt', `${notAuthorized(BOB, 'kms:Encrypt', finance.arn)} with an explicit deny in a resource-based policy`);

    const revoked = await aws('keybridge', ['revoke-grant', '--key-id', finance.id, '--grant-id', grantId], { eventName: 'RevokeGrant', keyArn: finance.arn });
    assert.equal(revoked.error, undefined);
    denied(await decrypt(FINANCE), 'Decrypt', deniedMessage);
    denied(await decrypt(FINANCE, grantToken), 'Decrypt', deniedMessage);
  });

  test('a key whose policy gives the account administration only: alice\'s failed condition is "no resource-based policy allows"', async () => {
    const adminOnly = keyPolicy([
      {
        Sid: 'Account administers the key',
        Effect: 'Allow',
        Principal: { AWS: ROOT },
        Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
        Resource: '*',
      },
      ALICE_ENCRYPTS_FINANCE,
    ]);
    const created = await aws('keybridge', ['create-key', '--description', 'alice only', '--policy', `file://${file(adminOnly)}`], { eventName: 'CreateKey' });
    const strict = { id: created.json.KeyMetadata.KeyId as string, arn: created.json.KeyMetadata.Arn as string };
    expected[expected.length - 1] = { ...expected.at(-1)!, keyArn: strict.arn };
    const plaintext = `fileb://${file(PLAINTEXT)}`;
    const ok = await aws('alice', ['encrypt', '--key-id', strict.id, '--plaintext', plaintext, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Encrypt',
      keyArn: strict.arn,
      encryptionContext: FINANCE,
    });
    assert.equal(ok.json.KeyId, strict.arn);
    const no = await aws('alice', ['encrypt', '--key-id', strict.id, '--plaintext', plaintext, '--encryption-context', JSON.stringify(SALES)], {
      eventName: 'Encrypt',
      keyArn: strict.arn,
      encryptionContext: SALES,
    });
    denied(no, 'Encrypt', `${notAuthorized(ALICE, 'kms:Encrypt', strict.arn)} because no resource-based policy allows the kms:Encrypt action`);
    // Not even the account root may use it: the key policy never delegated Encrypt to the account.
    const root = await aws('keybridge', ['encrypt', '--key-id', strict.id, '--plaintext', plaintext, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Encrypt',
      keyArn: strict.arn,
      encryptionContext: FINANCE,
    });
    denied(root, 'Encrypt', `${notAuthorized(ROOT, 'kms:Encrypt', strict.arn)} because no resource-based policy allows the kms:Encrypt action`);
  });

  test('carol: an IAM identity policy (principals put-policy) is honoured through the default key policy\'s delegation', async () => {
    const created = await aws('keybridge', ['create-key', '--description', 'default policy'], { eventName: 'CreateKey' });
    const open = { id: created.json.KeyMetadata.KeyId as string, arn: created.json.KeyMetadata.Arn as string };
    expected[expected.length - 1] = { ...expected.at(-1)!, keyArn: open.arn };
    const plaintext = `fileb://${file(PLAINTEXT)}`;
    const encrypt = (keyId: string, keyArn: string) =>
      aws('carol', ['encrypt', '--key-id', keyId, '--plaintext', plaintext], { eventName: 'Encrypt', keyArn });

    denied(await encrypt(open.id, open.arn), 'Encrypt', `${notAuthorized(CAROL, 'kms:Encrypt', open.arn)} because no identity-based policy allows the kms:Encrypt action`);

    const identity = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Encrypt', Resource: open.arn }] });
    const put = await keybridge(['principals', 'put-policy', '--user', 'carol', '--name', 'encrypt-open-key', '--document', `file://${file(identity)}`]);
    assert.equal(put.code, 0, put.stderr);

    const ok = await encrypt(open.id, open.arn);
    assert.equal(ok.json.KeyId, open.arn);
    // Her identity policy names one key only.
    denied(await encrypt(finance.id, finance.arn), 'Encrypt', `${notAuthorized(CAROL, 'kms:Encrypt', finance.arn)} because no identity-based policy allows the kms:Encrypt action`);
  });

  test('authentication failures are answered and recorded with the access key id they claimed', async () => {
    const alice = readCredentialsFile(server.credentialsFile).get('alice')!;
    writeCredentialsProfile(server.credentialsFile, 'mallory', { accessKeyId: alice.accessKeyId, secretAccessKey: 'x'.repeat(40) });
    const forged = await aws('mallory', ['encrypt', '--key-id', finance.id, '--plaintext', `fileb://${file(PLAINTEXT)}`, '--encryption-context', JSON.stringify(FINANCE)], {
      eventName: 'Encrypt',
      arn: undefined,
    });
    assert.equal(forged.error?.code, 'InvalidSignatureException', JSON.stringify(forged));
    const unknown = 'AKIAZZZZZZZZZZZZZZZZ';
    writeCredentialsProfile(server.credentialsFile, 'stranger', { accessKeyId: unknown, secretAccessKey: 'y'.repeat(40) });
    const stranger = await aws('stranger', ['describe-key', '--key-id', finance.id], { eventName: 'DescribeKey', arn: undefined });
    assert.equal(stranger.error?.code, 'UnrecognizedClientException', JSON.stringify(stranger));
  });

  test('the trail holds every one of those calls with CloudTrail\'s fields and no plaintext (audit export)', async () => {
    const out = join(server.dataDir, 'export');
    const r = await keybridge(['audit', 'export', '--dir', out, '--since', startedAt.toISOString(), '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const records: any[] = readdirSync(out)
      .filter((f) => f.endsWith('.json') && f.startsWith(`${ACCOUNT}_CloudTrail_${server.region}_`))
      .sort()
      .flatMap((f) => (JSON.parse(readFileSync(join(out, f), 'utf8')) as { Records: any[] }).Records);
    assert.equal((JSON.parse(r.stdout) as { records: number }).records, records.length);
    // The export is the whole trail but the intents whose outcome is recorded (here: all of them).
    const db = new Database(join(server.dataDir, 'audit.db'), { readonly: true });
    const stored = db.prepare('SELECT record FROM audit_records ORDER BY seq').pluck().all() as string[];
    db.close();
    const intents = stored.filter((text) => JSON.parse(text).eventType === 'KeybridgeIntent');
    assert.ok(intents.length > 0, 'the state-changing calls wrote intents');
    assert.equal(records.length, stored.length - intents.length);
    assert.equal(records.some((rec) => rec.eventType === 'KeybridgeIntent'), false);
    assert.ok(expected.length >= 30, `${expected.length} calls made`);

    const profiles = readCredentialsFile(server.credentialsFile);
    for (const e of expected) {
      const matching = records.filter((rec) => rec.requestID === e.requestId);
      assert.equal(matching.length, 1, `exactly one record for ${e.eventName} ${e.requestId}`);
      const rec = matching[0];
      const what = `${e.eventName} by ${e.arn ?? e.accessKeyId} (${e.requestId})`;
      assert.equal(rec.eventName, e.eventName, what);
      assert.equal(rec.eventSource, 'kms.amazonaws.com', what);
      assert.equal(rec.eventType, 'AwsApiCall', what);
      assert.equal(rec.eventVersion, '1.11', what);
      assert.equal(rec.awsRegion, server.region, what);
      assert.equal(rec.recipientAccountId, ACCOUNT, what);
      assert.equal(rec.sourceIPAddress, '127.0.0.1', what);
      assert.match(rec.userAgent, /^aws-cli\/2\./, what);
      assert.match(rec.eventID, /^[0-9a-f-]{36}$/, what);
      assert.ok(Math.abs(Date.parse(rec.eventTime) - Date.now()) < 10 * 60_000, what);
      assert.equal(rec.managementEvent, true, what);
      assert.equal(rec.eventCategory, 'Management', what);
      if (e.arn === undefined) {
        // Nothing of an unauthenticated request was verified: no identity but the key id it
        // claimed, and its body is not read (no keyId or encryptionContext in requestParameters).
        assert.deepEqual(rec.userIdentity, { type: 'Unknown', accessKeyId: e.accessKeyId }, what);
        assert.equal(rec.requestParameters?.keyId, undefined, what);
        assert.equal(rec.requestParameters?.encryptionContext, undefined, what);
      } else {
        assert.equal(rec.userIdentity.arn, e.arn, what);
        assert.equal(rec.userIdentity.type, e.arn === ROOT ? 'Root' : 'IAMUser', what);
        assert.equal(rec.userIdentity.accountId, ACCOUNT, what);
        assert.equal(rec.userIdentity.accessKeyId, e.accessKeyId, what);
        if (e.arn !== ROOT) assert.equal(rec.userIdentity.userName, e.arn.split('/').at(-1), what);
      }
      assert.equal(rec.errorCode, e.errorCode, what);
      assert.equal(rec.errorMessage, e.errorMessage, what);
      if (e.errorCode !== undefined) assert.equal(rec.responseElements, null, what);
      if (e.keyArn === undefined) assert.equal(rec.resources, undefined, what);
      else assert.deepEqual(rec.resources, [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: e.keyArn }], what);
      if (e.encryptionContext !== undefined) assert.deepEqual(rec.requestParameters.encryptionContext, e.encryptionContext, what);
      if (e.eventName === 'Encrypt' || e.eventName === 'Decrypt') {
        assert.equal(rec.readOnly, true, what);
        assert.equal(rec.requestParameters.encryptionAlgorithm, 'SYMMETRIC_DEFAULT', what);
      }
    }
    // The denials are there as denials, with AWS's message.
    const denials = records.filter((rec) => rec.errorCode === 'AccessDeniedException');
    assert.equal(denials.length, expected.filter((e) => e.errorCode === 'AccessDeniedException').length);
    for (const rec of denials) assert.match(rec.errorMessage, /^User: arn:aws:iam::111122223333:(user\/\w+|root) is not authorized to perform: kms:\w+ on resource: arn:aws:kms:/);
    // The grant's records: CreateGrant names the grantee and constraint, never the token.
    const createGrant = records.find((rec) => rec.eventName === 'CreateGrant')!;
    assert.equal(createGrant.requestParameters.granteePrincipal, BOB);
    assert.deepEqual(createGrant.requestParameters.operations, ['Decrypt']);
    assert.deepEqual(createGrant.requestParameters.constraints, { encryptionContextSubset: FINANCE });
    // The principals admin calls were recorded too (the operator's CreatePrincipal etc.).
    assert.ok(records.some((rec) => rec.eventName === 'KeybridgeAdmin.PutPrincipalPolicy' && rec.userIdentity.arn === ROOT));

    // No plaintext, raw, base64 or hex, in any record, nor anywhere in the database file; no
    // ciphertext and no secret either.
    const text = JSON.stringify(records);
    const secrets = [...profiles.values()].map((p) => p.secretAccessKey).filter((s) => !/^(x|y)+$/.test(s));
    for (const needle of [PLAINTEXT, Buffer.from(PLAINTEXT).toString('base64'), Buffer.from(PLAINTEXT).toString('hex'), financeCiphertext, ...secrets]) {
      assert.equal(text.includes(needle), false, `found ${needle.slice(0, 12)}… in the exported trail`);
      assert.equal(stored.join('\n').includes(needle), false, `found ${needle.slice(0, 12)}… in audit.db`);
    }
    const bytes = Buffer.concat(['audit.db', 'audit.db-wal'].map((f) => join(server.dataDir, f)).filter(existsSync).map((p) => readFileSync(p)));
    assert.equal(bytes.includes(Buffer.from(PLAINTEXT)), false, 'plaintext in the audit database file');
    assert.equal(bytes.includes(Buffer.from(Buffer.from(PLAINTEXT).toString('base64'))), false, 'base64 plaintext in the audit database file');
  });

  test('tampering with the stopped server\'s trail: an edit, a deletion and a swap are each caught at the first bad seq', async () => {
    await server.stop();
    const path = join(server.dataDir, 'audit.db');
    const seqOf = (db: Database.Database, requestId: string) =>
      db.prepare<[string], number>("SELECT seq FROM audit_records WHERE json_extract(record, '$.requestID') = ?").pluck().get(requestId)!;
    // Fold the WAL into the file so that one file copy is the whole trail.
    const db = new Database(path);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const total = db.prepare('SELECT count(*) FROM audit_records').pluck().get() as number;
    const aliceOk = expected.find((e) => e.arn === ALICE && e.eventName === 'Encrypt' && e.errorCode === undefined)!;
    const bobDenied = expected.find((e) => e.arn === BOB && e.eventName === 'Encrypt' && e.errorCode === 'AccessDeniedException')!;
    const grant = expected.find((e) => e.eventName === 'CreateGrant')!;
    const revoke = expected.find((e) => e.eventName === 'RevokeGrant')!;
    const seqs = { edit: seqOf(db, aliceOk.requestId), del: seqOf(db, bobDenied.requestId), swapA: seqOf(db, grant.requestId), swapB: seqOf(db, revoke.requestId) };
    db.close();
    assert.ok(seqs.edit > 1 && seqs.swapA < seqs.swapB - 1 && seqs.swapB < total, JSON.stringify(seqs));
    const pristine = join(server.dataDir, 'audit.pristine.db');
    copyFileSync(path, pristine);

    const restore = () => {
      for (const f of ['audit.db-wal', 'audit.db-shm']) rmSync(join(server.dataDir, f), { force: true });
      copyFileSync(pristine, path);
    };
    const tamper = (fn: (db: Database.Database) => void) => {
      restore();
      const rw = new Database(path);
      fn(rw);
      rw.close();
    };
    const verify = () => keybridge(['audit', 'verify']);

    const intact = await verify();
    assert.equal(intact.code, 0, intact.stdout + intact.stderr);
    // The stopped server signed a final digest over the whole trail.
    assert.match(intact.stdout, new RegExp(`^OK: ${total} records, chain intact\\nhead: seq ${total}, hash [0-9a-f]{64}\\ndigests: \\d+ signed digests verified with .*; the last covers seq ${total} `));

    // Edited: alice's Finance encrypt now claims Sales.
    tamper((rw) => {
      const changed = rw.prepare(`UPDATE audit_records SET record = replace(record, '"Department":"Finance"', '"Department":"Sales"') WHERE seq = ?`).run(seqs.edit);
      assert.equal(changed.changes, 1);
    });
    let r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: seq ${seqs.edit}: altered: `));

    // Deleted: bob's explicit-deny record disappears.
    tamper((rw) => assert.equal(rw.prepare('DELETE FROM audit_records WHERE seq = ?').run(seqs.del).changes, 1));
    r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: seq ${seqs.del}: removed: record seq ${seqs.del} is missing`));

    // Swapped: CreateGrant and RevokeGrant exchange places.
    tamper((rw) =>
      rw.transaction(() => {
        rw.prepare('UPDATE audit_records SET seq = -1 WHERE seq = ?').run(seqs.swapA);
        rw.prepare('UPDATE audit_records SET seq = ? WHERE seq = ?').run(seqs.swapA, seqs.swapB);
        rw.prepare('UPDATE audit_records SET seq = ? WHERE seq = -1').run(seqs.swapB);
      })(),
    );
    r = await verify();
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^FAILED: seq ${seqs.swapA}: reordered: `));

    restore();
    r = await verify();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
