import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StaticCredentials } from '../../src/auth/static-credentials.js';
import type { AccessKey } from '../../src/ports/principals.js';

const principal = { arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333', type: 'Root' as const };
const a: AccessKey = { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'sa', principal };
const b: AccessKey = { accessKeyId: 'AKIABBBBBBBBBBBBBBBB', secretAccessKey: 'sb', principal };

test('looks keys up by id', () => {
  const creds = new StaticCredentials([a, b]);
  assert.equal(creds.lookup(a.accessKeyId), a);
  assert.equal(creds.lookup(b.accessKeyId), b);
  assert.equal(creds.lookup('AKIACCCCCCCCCCCCCCCC'), undefined);
  assert.equal(creds.lookup('constructor'), undefined);
});

test('refuses two keys with one id', () => {
  assert.throws(() => new StaticCredentials([a, { ...b, accessKeyId: a.accessKeyId }]), /duplicate access key id/);
});
