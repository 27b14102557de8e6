// The PutKeyPolicy/CreateKey lockout safety check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KmsError } from '../../../src/domain/errors.js';
import { defaultKeyPolicy } from '../../../src/domain/key-policy.js';
import type { PolicyDocument, RequestPrincipal } from '../../../src/domain/policy/index.js';
import { LOCKOUT_MESSAGE, assertNoLockout, parsePolicy } from '../../../src/domain/policy/index.js';
import { ACCOUNT, ADMIN_SESSION, APP_SESSION, BOB, KEY_ARN, ROOT, identityPolicy, keyPolicy } from './support.js';

const ROOT_ARN = `arn:aws:iam::${ACCOUNT}:root`;
const adminIam = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: '*' });

function locksOut(policy: PolicyDocument, principal: RequestPrincipal, identity: readonly PolicyDocument[], keys: Record<string, string | boolean> = {}): boolean {
  try {
    assertNoLockout(policy, { principal, resource: KEY_ARN, resourceAccount: ACCOUNT, conditionKeys: keys }, identity);
    return false;
  } catch (err) {
    assert.ok(err instanceof KmsError);
    assert.equal(err.kmsName, 'MalformedPolicyDocumentException');
    assert.equal(err.message, LOCKOUT_MESSAGE);
    return true;
  }
}

test("the message is AWS's", () => {
  assert.equal(LOCKOUT_MESSAGE, 'The new key policy will not allow you to update the key policy in the future.');
});

test('lockout rows', () => {
  const defaultPolicy = parsePolicy(defaultKeyPolicy({ partition: 'aws', region: 'us-east-1', accountId: ACCOUNT }), { kind: 'key' });
  const usersOnly = keyPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/App` }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' });
  const admins = keyPolicy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/admins/KMSAdmin` }, Action: ['kms:Put*', 'kms:Describe*'], Resource: '*' });
  const denyPut = keyPolicy(
    { Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' },
    { Effect: 'Deny', Principal: '*', Action: 'kms:PutKeyPolicy', Resource: '*' },
  );
  const tlsOnly = keyPolicy({ Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'true' } } });
  const rows: ReadonlyArray<readonly [string, PolicyDocument, RequestPrincipal, readonly PolicyDocument[], Record<string, string | boolean>, boolean]> = [
    ['default policy, IAM admin', defaultPolicy, BOB, [adminIam], {}, false],
    ['default policy, user without IAM rights', defaultPolicy, BOB, [], {}, true],
    ['default policy, root user', defaultPolicy, ROOT, [], {}, false],
    ['users-only policy locks the admin out', usersOnly, ADMIN_SESSION, [adminIam], {}, true],
    ['users-only policy locks the key user out too', usersOnly, APP_SESSION, [], {}, true],
    ['admins named directly', admins, ADMIN_SESSION, [], {}, false],
    ['admins named, caller is someone else', admins, BOB, [adminIam], {}, true],
    ['explicit deny of PutKeyPolicy', denyPut, ROOT, [], {}, true],
    ['conditions are evaluated with the request\'s keys: met', tlsOnly, ROOT, [], { 'aws:SecureTransport': true }, false],
    ['conditions are evaluated with the request\'s keys: not met', tlsOnly, ROOT, [], { 'aws:SecureTransport': false }, true],
  ];
  for (const [name, policy, principal, identity, keys, expected] of rows) {
    assert.equal(locksOut(policy, principal, identity, keys), expected, name);
  }
});
