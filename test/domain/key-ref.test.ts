// How a client names a KMS key (reference §1.1): key id, key ARN, alias name, alias ARN, and the
// errors AWS gives for names that cannot be a key of this account and region.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account } from '../../src/domain/arn.js';
import { KmsError, type KmsErrorName } from '../../src/domain/errors.js';
import { isKeyId, parseKeyRef } from '../../src/domain/key-ref.js';

const ACCOUNT: Account = { partition: 'aws', region: 'us-east-2', accountId: '111122223333' };
const ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:us-east-2:111122223333:key/${ID}`;
const ALIAS = 'alias/ExampleAlias';
const ALIAS_ARN = 'arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias';

function failure(text: string, allowAlias: boolean): { kmsName: KmsErrorName; message: string } {
  try {
    parseKeyRef(text, ACCOUNT, allowAlias);
  } catch (err) {
    assert.ok(err instanceof KmsError, String(err));
    assert.equal(err.status, 400);
    return { kmsName: err.kmsName, message: err.message };
  }
  assert.fail(`${text} (allowAlias=${allowAlias}) was accepted`);
}

test('isKeyId accepts only a lower-case dashed UUID', () => {
  assert.equal(isKeyId(ID), true);
  assert.equal(isKeyId(ID.toUpperCase()), false);
  assert.equal(isKeyId(ID.replace(/-/g, '')), false);
  assert.equal(isKeyId(`${ID}0`), false);
  assert.equal(isKeyId(` ${ID}`), false);
  assert.equal(isKeyId(''), false);
});

test('a key id is accepted with or without aliases allowed', () => {
  for (const allowAlias of [true, false]) {
    assert.deepEqual(parseKeyRef(ID, ACCOUNT, allowAlias), { kind: 'key', keyId: ID, display: ID });
  }
});

test('a key ARN of this account and region is accepted with or without aliases allowed', () => {
  for (const allowAlias of [true, false]) {
    assert.deepEqual(parseKeyRef(KEY_ARN, ACCOUNT, allowAlias), { kind: 'key', keyId: ID, display: KEY_ARN });
  }
});

test('an alias name is accepted where aliases are allowed', () => {
  assert.deepEqual(parseKeyRef(ALIAS, ACCOUNT, true), { kind: 'alias', aliasName: ALIAS, display: ALIAS });
});

test('an alias ARN of this account and region is accepted where aliases are allowed', () => {
  assert.deepEqual(parseKeyRef(ALIAS_ARN, ACCOUNT, true), { kind: 'alias', aliasName: ALIAS, display: ALIAS_ARN });
});

test('alias name and alias ARN are refused with NotFoundException where aliases are not allowed', () => {
  assert.deepEqual(failure(ALIAS, false), { kmsName: 'NotFoundException', message: `Invalid keyId ${ALIAS}` });
  assert.deepEqual(failure(ALIAS_ARN, false), { kmsName: 'NotFoundException', message: `Invalid keyId ${ALIAS_ARN}` });
});

test('a key ARN of another region, account or partition does not exist', () => {
  const foreign = [
    `arn:aws:kms:eu-west-1:111122223333:key/${ID}`,
    `arn:aws:kms:us-east-2:444455556666:key/${ID}`,
    `arn:aws-cn:kms:us-east-2:111122223333:key/${ID}`,
  ];
  for (const arn of foreign) {
    for (const allowAlias of [true, false]) {
      assert.deepEqual(failure(arn, allowAlias), { kmsName: 'NotFoundException', message: `Key '${arn}' does not exist` });
    }
  }
});

test('an alias ARN of another region, account or partition is not found', () => {
  const foreign = [
    'arn:aws:kms:eu-west-1:111122223333:alias/ExampleAlias',
    'arn:aws:kms:us-east-2:444455556666:alias/ExampleAlias',
    'arn:aws-us-gov:kms:us-east-2:111122223333:alias/ExampleAlias',
  ];
  for (const arn of foreign) {
    assert.deepEqual(failure(arn, true), { kmsName: 'NotFoundException', message: `Alias ${arn} is not found.` });
  }
});

test('a key ARN whose key id is not a valid key id does not exist', () => {
  for (const arn of [
    `arn:aws:kms:us-east-2:111122223333:key/${ID.toUpperCase()}`,
    'arn:aws:kms:us-east-2:111122223333:key/not-a-key',
    `arn:aws:kms:us-east-2:111122223333:key/${ID}/extra`,
    'arn:aws:kms:us-east-2:111122223333:key/',
  ]) {
    assert.deepEqual(failure(arn, true), { kmsName: 'NotFoundException', message: `Key '${arn}' does not exist` });
  }
});

test('malformed ARNs → InvalidArnException', () => {
  for (const arn of [
    'arn:',
    'arn:aws:kms',
    'arn:aws:kms:us-east-2:111122223333',
    'arn:aws:kms:us-east-2:111122223333:', // no resource
    'arn::kms:us-east-2:111122223333:key/x', // no partition
    `arn:aws::us-east-2:111122223333:key/${ID}`, // no service
    `arn:aws:s3:us-east-2:111122223333:key/${ID}`, // not KMS
    'arn:aws:iam::111122223333:root',
  ]) {
    for (const allowAlias of [true, false]) {
      assert.deepEqual(failure(arn, allowAlias), { kmsName: 'InvalidArnException', message: `Invalid ARN: ${arn}` });
    }
  }
});

test('a KMS ARN naming neither a key nor an alias → NotFoundException "Invalid keyId …"', () => {
  const arn = 'arn:aws:kms:us-east-2:111122223333:grant/abc';
  assert.deepEqual(failure(arn, true), { kmsName: 'NotFoundException', message: `Invalid keyId ${arn}` });
});

test('an upper-case UUID or random text → NotFoundException "Invalid keyId …"', () => {
  for (const text of [ID.toUpperCase(), ID.replace(/-/g, ''), 'random text', 'key/' + ID, 'Alias/ExampleAlias', `${ID} `, '']) {
    for (const allowAlias of [true, false]) {
      assert.deepEqual(failure(text, allowAlias), { kmsName: 'NotFoundException', message: `Invalid keyId ${text}` });
    }
  }
});
