// Secondary authorization (spec "Authorization"): allow rules on requestMetadata, evaluated after
// SigV4 and before any HSM call; GetHealthStatus is never subject to it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XksError } from '../../src/xks/errors.js';
import { SecondaryAuthorization } from '../../src/xks/secondary-authorization.js';

const PATH = '/tenant/kms/xks/v1';
const ALICE = 'arn:aws:iam::111122223333:user/Alice';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

function denied(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    assert.ok(err instanceof XksError);
    assert.equal(err.errorName, 'AccessDeniedException');
    assert.equal(err.status, 403);
    return true;
  }
}

describe('SecondaryAuthorization', () => {
  const auth = new SecondaryAuthorization([
    { awsPrincipalArn: ['arn:aws:iam::111122223333:user/*'], kmsKeyArn: [KEY], operations: ['Encrypt', 'Decrypt'] },
    { uriPath: ['/other/*'], kmsOperation: ['DescribeKey', 'CreateKey'] },
    { awsSourceVpce: ['vpce-0abc?'] },
  ]);

  test('a rule matches when every condition it states matches', () => {
    assert.equal(denied(() => auth.check(PATH, 'Encrypt', { awsPrincipalArn: ALICE, kmsKeyArn: KEY, kmsOperation: 'Encrypt', kmsRequestId: 'r' })), false);
  });

  test('one condition failing denies (another account, another key, another operation)', () => {
    assert.equal(denied(() => auth.check(PATH, 'Encrypt', { awsPrincipalArn: 'arn:aws:iam::444455556666:user/Alice', kmsKeyArn: KEY })), true);
    assert.equal(denied(() => auth.check(PATH, 'Encrypt', { awsPrincipalArn: ALICE, kmsKeyArn: `${KEY}0` })), true);
    assert.equal(denied(() => auth.check(PATH, 'GetKeyMetadata', { awsPrincipalArn: ALICE, kmsKeyArn: KEY })), true);
  });

  test('wildcards cover whole values only: * any run, ? one character, regex characters literal', () => {
    assert.equal(denied(() => auth.check(PATH, 'GetKeyMetadata', { awsSourceVpce: 'vpce-0abc1' })), false);
    assert.equal(denied(() => auth.check(PATH, 'GetKeyMetadata', { awsSourceVpce: 'vpce-0abc12' })), true);
    assert.equal(denied(() => auth.check('/other/x/kms/xks/v1', 'GetKeyMetadata', { kmsOperation: 'CreateKey' })), false);
    // `.` in a pattern is a literal dot, not "any character".
    const dots = new SecondaryAuthorization([{ kmsViaService: ['ebs.amazonaws.com'] }]);
    assert.equal(denied(() => dots.check(PATH, 'Encrypt', { kmsViaService: 'ebsXamazonaws.com' })), true);
    assert.equal(denied(() => dots.check(PATH, 'Encrypt', { kmsViaService: 'ebs.amazonaws.com' })), false);
  });

  test('a condition on a member the request lacks does not match (no VPC endpoint, no awsSourceVpce)', () => {
    assert.equal(denied(() => auth.check(PATH, 'Decrypt', { awsPrincipalArn: 'arn:aws:iam::111122223333:role/R', kmsKeyArn: KEY })), true);
  });

  test('no rules: everything is denied', () => {
    assert.equal(denied(() => new SecondaryAuthorization([]).check(PATH, 'Encrypt', { awsPrincipalArn: ALICE, kmsKeyArn: KEY })), true);
  });

  test("the message names principal, key and operation, never more than the spec's 512 printable characters", () => {
    try {
      new SecondaryAuthorization([]).check(PATH, 'Decrypt', { awsPrincipalArn: ALICE, kmsKeyArn: KEY, kmsOperation: 'ReEncrypt' });
      assert.fail('not denied');
    } catch (err) {
      assert.match((err as Error).message, /Alice.*1234abcd.*ReEncrypt/);
    }
  });
});
