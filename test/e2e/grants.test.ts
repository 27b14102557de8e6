// Grants through @aws-sdk/client-kms against a real keybridge: create (with idempotent Name),
// list with pagination and filters, list retirable, retire by token and by id, revoke, the
// validation errors AWS answers, and grants going with their key.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateGrantCommand,
  CreateKeyCommand,
  type GrantOperation,
  type KMSClient,
  ListGrantsCommand,
  ListRetirableGrantsCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { readCredentialsFile } from '../../src/auth/credentials-file.js';
import { runCliAgainst } from '../support/cli.js';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::111122223333:role/bob';
const RETIRER = 'arn:aws:iam::444455556666:user/retirer';

let server: TestServer;
let kms: KMSClient;

before(async () => {
  server = await startServer();
  kms = sdkClient(server);
});
after(async () => {
  kms?.destroy();
  await server?.destroy();
});

async function newKey(): Promise<{ keyId: string; arn: string }> {
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
  return { keyId: KeyMetadata!.KeyId!, arn: KeyMetadata!.Arn! };
}

async function rejects(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('CreateGrant and ListGrants', () => {
  test('a grant is listed with exactly the members AWS returns', async () => {
    const key = await newKey();
    const created = await kms.send(
      new CreateGrantCommand({
        KeyId: key.keyId,
        GranteePrincipal: ALICE,
        RetiringPrincipal: RETIRER,
        Operations: ['Decrypt', 'Encrypt', 'DescribeKey'],
        Constraints: { EncryptionContextSubset: { Dept: 'IT' } },
        Name: 'app-grant',
      }),
    );
    assert.match(created.GrantId!, /^[0-9a-f]{64}$/);
    assert.ok(created.GrantToken!.length > 64);
    const { Grants, Truncated } = await kms.send(new ListGrantsCommand({ KeyId: key.arn }));
    assert.equal(Truncated, false);
    assert.equal(Grants!.length, 1);
    const g = Grants![0]!;
    assert.ok(g.CreationDate instanceof Date && Math.abs(g.CreationDate.getTime() - Date.now()) < 60_000);
    assert.deepEqual({ ...g, CreationDate: undefined }, {
      KeyId: key.arn,
      GrantId: created.GrantId,
      Name: 'app-grant',
      CreationDate: undefined,
      GranteePrincipal: ALICE,
      RetiringPrincipal: RETIRER,
      IssuingAccount: `arn:aws:iam::${server.accountId}:root`,
      Operations: ['Decrypt', 'Encrypt', 'DescribeKey'],
      Constraints: { EncryptionContextSubset: { Dept: 'IT' } },
    });
  });

  test('same Name and parameters return the same grant id with a new token; other parameters make a new grant', async () => {
    const key = await newKey();
    const params = { KeyId: key.keyId, GranteePrincipal: ALICE, Operations: ['Encrypt', 'Decrypt'] as GrantOperation[], Name: 'retry-me' };
    const first = await kms.send(new CreateGrantCommand(params));
    const again = await kms.send(new CreateGrantCommand({ ...params, Operations: ['Decrypt', 'Encrypt'] }));
    assert.equal(again.GrantId, first.GrantId);
    assert.notEqual(again.GrantToken, first.GrantToken);
    const different = await kms.send(new CreateGrantCommand({ ...params, Operations: ['Encrypt'] }));
    assert.notEqual(different.GrantId, first.GrantId);
    const unnamed1 = await kms.send(new CreateGrantCommand({ ...params, Name: undefined }));
    const unnamed2 = await kms.send(new CreateGrantCommand({ ...params, Name: undefined }));
    assert.notEqual(unnamed1.GrantId, unnamed2.GrantId);
    const { Grants } = await kms.send(new ListGrantsCommand({ KeyId: key.keyId }));
    assert.equal(Grants!.length, 4);
  });

  test('ListGrants pages with Limit/Marker and filters by GrantId and GranteePrincipal', async () => {
    const key = await newKey();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const grantee = i % 2 === 0 ? ALICE : BOB;
      ids.push((await kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: grantee, Operations: ['Encrypt'] }))).GrantId!);
    }
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListGrantsCommand({ KeyId: key.keyId, Limit: 2, Marker: marker }));
      assert.ok(page.Grants!.length <= 2);
      seen.push(...page.Grants!.map((g) => g.GrantId!));
      assert.equal(page.Truncated, page.NextMarker !== undefined);
      marker = page.NextMarker;
      pages++;
    } while (marker);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].sort());
    const alices = await kms.send(new ListGrantsCommand({ KeyId: key.keyId, GranteePrincipal: ALICE }));
    assert.deepEqual(alices.Grants!.map((g) => g.GrantId).sort(), [ids[0], ids[2], ids[4]].sort());
    const one = await kms.send(new ListGrantsCommand({ KeyId: key.keyId, GrantId: ids[3] }));
    assert.deepEqual(one.Grants!.map((g) => g.GrantId), [ids[3]]);
    await rejects(kms.send(new ListGrantsCommand({ KeyId: key.keyId, Marker: 'bogus!' })), 'InvalidMarkerException');
    await rejects(kms.send(new ListGrantsCommand({ KeyId: key.keyId, GrantId: 'nope' })), 'InvalidGrantIdException');
  });
});

describe('retiring and revoking', () => {
  test('ListRetirableGrants, RetireGrant by token and by key and id, RevokeGrant', async () => {
    const k1 = await newKey();
    const k2 = await newKey();
    const base = { GranteePrincipal: ALICE, RetiringPrincipal: RETIRER, Operations: ['Encrypt'] as GrantOperation[] };
    const a = await kms.send(new CreateGrantCommand({ KeyId: k1.keyId, ...base }));
    const b = await kms.send(new CreateGrantCommand({ KeyId: k2.keyId, ...base }));
    const c = await kms.send(new CreateGrantCommand({ KeyId: k2.keyId, GranteePrincipal: BOB, Operations: ['Decrypt'] }));

    const retirable = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: RETIRER }));
    const mine = retirable.Grants!.filter((g) => [a.GrantId, b.GrantId].includes(g.GrantId));
    assert.equal(mine.length, 2);
    assert.deepEqual(mine.map((g) => g.KeyId).sort(), [k1.arn, k2.arn].sort());
    const paged = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: RETIRER, Limit: 1 }));
    assert.equal(paged.Grants!.length, 1);
    assert.equal(paged.Truncated, true);

    await kms.send(new RetireGrantCommand({ GrantToken: a.GrantToken }));
    await kms.send(new RetireGrantCommand({ KeyId: k2.arn, GrantId: b.GrantId }));
    await kms.send(new RevokeGrantCommand({ KeyId: k2.keyId, GrantId: c.GrantId }));
    for (const key of [k1, k2]) assert.deepEqual((await kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants, []);
    const left = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: RETIRER }));
    assert.ok(!left.Grants!.some((g) => [a.GrantId, b.GrantId].includes(g.GrantId)));

    await rejects(kms.send(new RetireGrantCommand({ GrantToken: a.GrantToken })), 'NotFoundException');
    await rejects(kms.send(new RevokeGrantCommand({ KeyId: k2.keyId, GrantId: c.GrantId })), 'NotFoundException');
  });

  test('the errors AWS answers', async () => {
    const key = await newKey();
    const other = await newKey();
    const g = await kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: ALICE, Operations: ['Encrypt'] }));
    await rejects(kms.send(new RetireGrantCommand({})), 'ValidationException');
    await rejects(kms.send(new RetireGrantCommand({ KeyId: key.keyId })), 'ValidationException');
    await rejects(kms.send(new RetireGrantCommand({ GrantToken: 'not-a-token' })), 'InvalidGrantTokenException');
    // A token edited to name the grant of another key does not verify.
    const bytes = Buffer.from(g.GrantToken!, 'base64url');
    bytes[40] = bytes[40]! ^ 1;
    await rejects(kms.send(new RetireGrantCommand({ GrantToken: bytes.toString('base64url') })), 'InvalidGrantTokenException');
    await rejects(kms.send(new RetireGrantCommand({ KeyId: key.keyId, GrantId: 'xyz' })), 'InvalidGrantIdException');
    await rejects(kms.send(new RetireGrantCommand({ KeyId: other.keyId, GrantId: g.GrantId })), 'NotFoundException');
    await rejects(kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: 'xyz' })), 'InvalidGrantIdException');
    await rejects(kms.send(new RetireGrantCommand({ GrantToken: g.GrantToken, DryRun: true })), 'DryRunOperationException');
    await rejects(kms.send(new RevokeGrantCommand({ KeyId: key.keyId, GrantId: g.GrantId!, DryRun: true })), 'DryRunOperationException');
    // Still there after the dry runs.
    assert.equal((await kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 1);
    await rejects(kms.send(new ListRetirableGrantsCommand({})), 'ValidationException');
    await rejects(kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: 'bob' })), 'InvalidArnException');
  });
});

describe('CreateGrant validation', () => {
  test('every rule answers AWS\'s exception', async () => {
    const key = await newKey();
    const ok = { KeyId: key.keyId, GranteePrincipal: ALICE, Operations: ['Encrypt'] as GrantOperation[] };
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Operations: [] })), 'ValidationException', /operations/);
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Operations: ['Bogus' as GrantOperation] })), 'ValidationException', /enum value set/);
    await rejects(kms.send(new CreateGrantCommand({ ...ok, GranteePrincipal: undefined })), 'ValidationException', /granteePrincipal/);
    await rejects(kms.send(new CreateGrantCommand({ ...ok, GranteePrincipal: 'alice' })), 'InvalidArnException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, GranteePrincipal: 'has space' })), 'ValidationException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, RetiringPrincipal: 'arn:aws:kms:us-east-1:111122223333:key/x' })), 'InvalidArnException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Name: 'bad name' })), 'ValidationException');
    // Sign is not a grant operation of a symmetric encryption key.
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Operations: ['Sign'] })), 'ValidationException');
    // Constraints only with operations that take an encryption context (plus DescribeKey, RetireGrant, CreateGrant).
    const nine = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']));
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Constraints: { EncryptionContextEquals: nine } })), 'ValidationException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, Constraints: { EncryptionContextSubset: { a: 'x'.repeat(385) } } })), 'ValidationException');
    await kms.send(new CreateGrantCommand({ ...ok, Operations: ['Encrypt', 'DescribeKey', 'RetireGrant', 'CreateGrant'], Constraints: { EncryptionContextEquals: { a: 'b' } } }));
    await rejects(kms.send(new CreateGrantCommand({ ...ok, GrantTokens: ['junk'] })), 'InvalidGrantTokenException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, DryRun: true })), 'DryRunOperationException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, KeyId: '00000000-0000-0000-0000-000000000000' })), 'NotFoundException');
    await rejects(kms.send(new CreateGrantCommand({ ...ok, KeyId: 'alias/whatever' })), 'NotFoundException');
  });

  test('a key pending deletion takes no new grants; its grants go when it is deleted', async () => {
    const key = await newKey();
    const g = await kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: ALICE, RetiringPrincipal: RETIRER, Operations: ['Encrypt'] }));
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: 7 }));
    await rejects(kms.send(new CreateGrantCommand({ KeyId: key.keyId, GranteePrincipal: ALICE, Operations: ['Encrypt'] })), 'KMSInvalidStateException');
    // Listing still works while the key waits.
    assert.equal((await kms.send(new ListGrantsCommand({ KeyId: key.keyId }))).Grants!.length, 1);
    server.clock.advance(8 * 24 * 60 * 60 * 1000);
    await server.keybridge.sweeper.sweepOnce();
    assert.equal(await server.keybridge.deps.store.getGrant(g.GrantId!), undefined);
    const retirable = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: RETIRER }));
    assert.ok(!retirable.Grants!.some((x) => x.GrantId === g.GrantId));
  });
});

describe('a grantee whose grant allows CreateGrant under a constraint', () => {
  test('creates stricter sub-grants; wider ones are denied (never an internal error)', async () => {
    const created = await runCliAgainst(server, ['principals', 'create', '--account', '111122223333', '--user', 'subgranter']);
    assert.equal(created.code, 0, created.stderr);
    const creds = readCredentialsFile(server.credentialsFile).get('subgranter');
    assert.ok(creds, 'the principal\'s profile was written');
    const grantee = sdkClient(server, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey });
    try {
      const key = await newKey();
      await kms.send(
        new CreateGrantCommand({
          KeyId: key.keyId,
          GranteePrincipal: 'arn:aws:iam::111122223333:user/subgranter',
          Operations: ['CreateGrant', 'Decrypt', 'Encrypt'],
          Constraints: { EncryptionContextSubset: { Dept: 'IT' } },
        }),
      );
      // Stricter: a larger subset, or an exact context that includes the parent's pairs.
      const stricter: Array<{ EncryptionContextSubset?: Record<string, string>; EncryptionContextEquals?: Record<string, string> }> = [
        { EncryptionContextSubset: { Dept: 'IT', Team: 'a' } },
        { EncryptionContextSubset: { Dept: 'IT' } },
        { EncryptionContextEquals: { Dept: 'IT', App: 'x' } },
      ];
      for (const Constraints of stricter) {
        const sub = await grantee.send(new CreateGrantCommand({ KeyId: key.arn, GranteePrincipal: BOB, Operations: ['Decrypt'], Constraints }));
        assert.match(sub.GrantId!, /^[0-9a-f]{64}$/, JSON.stringify(Constraints));
      }
      // Wider: no constraint, another context, or an operation the parent grant lacks.
      for (const request of [
        { Operations: ['Decrypt'] as GrantOperation[] },
        { Operations: ['Decrypt'] as GrantOperation[], Constraints: {} },
        { Operations: ['Decrypt'] as GrantOperation[], Constraints: { EncryptionContextSubset: { Dept: 'HR' } } },
        { Operations: ['Sign'] as GrantOperation[], Constraints: { EncryptionContextSubset: { Dept: 'IT' } } },
      ]) {
        await rejects(grantee.send(new CreateGrantCommand({ KeyId: key.arn, GranteePrincipal: BOB, ...request })), 'AccessDeniedException');
      }
      const { Grants } = await kms.send(new ListGrantsCommand({ KeyId: key.keyId }));
      assert.equal(Grants!.length, 4, 'the parent grant and the three stricter ones');
    } finally {
      grantee.destroy();
    }
  });
});
