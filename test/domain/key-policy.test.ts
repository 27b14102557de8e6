// Key policies: AWS's default policy, and the structural checks behind CreateKey/PutKeyPolicy's
// MalformedPolicyDocumentException.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account } from '../../src/domain/arn.js';
import { KmsError } from '../../src/domain/errors.js';
import { DEFAULT_POLICY_NAME, defaultKeyPolicy, validateKeyPolicy } from '../../src/domain/key-policy.js';

const ACCOUNT: Account = { partition: 'aws', region: 'us-east-2', accountId: '111122223333' };

function rejection(policy: string): string {
  try {
    validateKeyPolicy(policy);
  } catch (err) {
    assert.ok(err instanceof KmsError, String(err));
    assert.equal(err.kmsName, 'MalformedPolicyDocumentException');
    assert.equal(err.status, 400);
    return err.message;
  }
  assert.fail(`accepted: ${policy}`);
}

/** A policy with one statement built from `statement`. */
function withStatement(statement: Record<string, unknown>): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
}

const ALLOW_ALL = { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' };

test('the default policy name is "default"', () => {
  assert.equal(DEFAULT_POLICY_NAME, 'default');
});

test("the default policy is AWS's default key policy", () => {
  assert.deepEqual(JSON.parse(defaultKeyPolicy(ACCOUNT)), {
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::111122223333:root' },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
});

test("the default policy names the account's own partition and account", () => {
  const policy = JSON.parse(defaultKeyPolicy({ partition: 'aws-cn', region: 'cn-north-1', accountId: '444455556666' }));
  assert.equal(policy.Statement.length, 1);
  assert.deepEqual(policy.Statement[0].Principal, { AWS: 'arn:aws-cn:iam::444455556666:root' });
});

test('the default policy passes validation', () => {
  assert.doesNotThrow(() => validateKeyPolicy(defaultKeyPolicy(ACCOUNT)));
});

test('realistic AWS key policies are accepted', () => {
  const policies: unknown[] = [
    // The console's default policy for a key with administrators and users.
    {
      Version: '2012-10-17',
      Id: 'key-consolepolicy-3',
      Statement: [
        { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
        {
          Sid: 'Allow access for Key Administrators',
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::111122223333:role/KMSAdmin', 'arn:aws:iam::111122223333:user/alice'] },
          Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
          Resource: '*',
        },
        {
          Sid: 'Allow use of the key',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111122223333:role/App' },
          Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
          Resource: '*',
        },
        {
          Sid: 'Allow attachment of persistent resources',
          Effect: 'Allow',
          Principal: { AWS: 'arn:aws:iam::111122223333:role/App' },
          Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'],
          Resource: '*',
          Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        },
      ],
    },
    // Service principal with encryption-context and ViaService conditions.
    {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'Allow CloudWatch Logs',
          Effect: 'Allow',
          Principal: { Service: 'logs.us-east-2.amazonaws.com' },
          Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
          Resource: '*',
          Condition: {
            ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:us-east-2:111122223333:log-group:*' },
            StringEquals: { 'kms:ViaService': 'logs.us-east-2.amazonaws.com', 'kms:CallerAccount': ['111122223333'] },
          },
        },
        { Sid: 'Deny outside the org', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalOrgID': 'o-abc123' } } },
      ],
    },
    // NotPrincipal / NotAction / NotResource, and a 2008 version.
    {
      Version: '2008-10-17',
      Statement: [
        { Effect: 'Deny', NotPrincipal: { AWS: ['arn:aws:iam::111122223333:root', 'arn:aws:iam::111122223333:role/Break-Glass'] }, NotAction: 'kms:Describe*', NotResource: 'arn:aws:kms:us-east-2:111122223333:key/x' },
        { Effect: 'Allow', Principal: { AWS: '*' }, Action: 'kms:Decrypt', Resource: '*', Condition: { NumericLessThan: { 'kms:RecipientAttestation:ImageSha384': 5 } } },
      ],
    },
    // A single Statement object instead of a list; no Version; other principal types.
    { Statement: { Effect: 'Allow', Principal: { Federated: 'cognito-identity.amazonaws.com', CanonicalUser: 'abc' }, Action: 'kms:Decrypt', Resource: '*' } },
  ];
  for (const policy of policies) {
    assert.doesNotThrow(() => validateKeyPolicy(JSON.stringify(policy)), JSON.stringify(policy));
    // Pretty-printed (tabs, LF, CR) is as good as compact.
    assert.doesNotThrow(() => validateKeyPolicy(JSON.stringify(policy, null, '\t').replace(/\n/g, '\r\n')));
  }
});

test('Latin-1 characters are inside the allowed set', () => {
  assert.doesNotThrow(() => validateKeyPolicy(withStatement({ ...ALLOW_ALL, Sid: 'Clé Überprüfung ÿ' })));
});

test('characters outside tab, LF, CR and U+0020–U+00FF are refused', () => {
  const message = 'The policy contains characters outside the allowed set (tab, LF, CR, U+0020–U+00FF).';
  for (const sid of ['Ā', '\u2013', '\u{1F600}', '\u0000', '\u0001', '\u000B', '\u001F']) {
    // Put the raw character in the text (JSON.stringify would escape control characters).
    assert.equal(rejection(withStatement({ ...ALLOW_ALL, Sid: 'x@' }).replace('x@', `x${sid}`)), message, JSON.stringify(sid));
  }
  assert.equal(rejection(''), message);
  // An escaped control character is plain ASCII text, and fine.
  assert.doesNotThrow(() => validateKeyPolicy(withStatement({ ...ALLOW_ALL, Sid: 'x\u0001' })));
});

test('not JSON', () => {
  for (const text of ['{', 'not json', '{"Statement": [}', "{'Statement': []}"]) {
    assert.equal(rejection(text), 'The policy is not valid JSON.', text);
  }
});

test('not a JSON object', () => {
  for (const text of ['[]', '[{"Effect":"Allow"}]', '"policy"', '42', 'null', 'true']) {
    assert.equal(rejection(text), 'The policy must be a JSON object.', text);
  }
});

test('an unknown top-level element', () => {
  assert.equal(
    rejection(JSON.stringify({ Version: '2012-10-17', Statement: [ALLOW_ALL], Statements: [] })),
    "The policy has an unknown element 'Statements'.",
  );
  assert.equal(rejection(JSON.stringify({ version: '2012-10-17', Statement: [ALLOW_ALL] })), "The policy has an unknown element 'version'.");
});

test('a bad Version or Id', () => {
  for (const version of ['2012-10-18', '', 2012]) {
    assert.equal(rejection(JSON.stringify({ Version: version, Statement: [ALLOW_ALL] })), 'The policy Version must be "2012-10-17" or "2008-10-17".');
  }
  assert.equal(rejection(JSON.stringify({ Id: 7, Statement: [ALLOW_ALL] })), 'The policy Id must be a string.');
});

test('no Statement, or an empty Statement list', () => {
  assert.equal(rejection(JSON.stringify({ Version: '2012-10-17' })), 'The policy must contain a Statement.');
  assert.equal(rejection('{}'), 'The policy must contain a Statement.');
  assert.equal(rejection(JSON.stringify({ Version: '2012-10-17', Statement: [] })), 'The policy must contain a Statement.');
});

test('a statement that is not an object; the statement number is 1-based', () => {
  assert.equal(rejection(JSON.stringify({ Statement: ['kms:*'] })), 'Statement 1 must be a JSON object.');
  assert.equal(rejection(JSON.stringify({ Statement: [ALLOW_ALL, null] })), 'Statement 2 must be a JSON object.');
  assert.equal(rejection(JSON.stringify({ Statement: [ALLOW_ALL, [ALLOW_ALL]] })), 'Statement 2 must be a JSON object.');
});

test('an unknown statement element', () => {
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Actions: 'kms:*' })), "Statement 1 has an unknown element 'Actions'.");
});

test('a non-string Sid', () => {
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Sid: 1 })), 'Statement 1: Sid must be a string.');
});

test('a bad Effect', () => {
  for (const effect of ['allow', 'Permit', '', true, undefined]) {
    const statement: Record<string, unknown> = { ...ALLOW_ALL, Effect: effect };
    if (effect === undefined) delete statement.Effect;
    assert.equal(rejection(withStatement(statement)), 'Statement 1: Effect must be "Allow" or "Deny".', String(effect));
  }
});

test('missing Principal, or both Principal and NotPrincipal', () => {
  const { Principal: _omitted, ...noPrincipal } = ALLOW_ALL;
  assert.equal(rejection(withStatement(noPrincipal)), 'Statement 1 must contain exactly one of Principal or NotPrincipal.');
  assert.equal(
    rejection(withStatement({ ...ALLOW_ALL, NotPrincipal: { AWS: 'arn:aws:iam::111122223333:root' } })),
    'Statement 1 must contain exactly one of Principal or NotPrincipal.',
  );
});

test('missing Action, or both Action and NotAction', () => {
  const { Action: _omitted, ...noAction } = ALLOW_ALL;
  assert.equal(rejection(withStatement(noAction)), 'Statement 1 must contain exactly one of Action or NotAction.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, NotAction: 'kms:Decrypt' })), 'Statement 1 must contain exactly one of Action or NotAction.');
});

test('a non-string Action, NotAction, Resource or NotResource', () => {
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Action: 5 })), 'Statement 1: Action must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Action: ['kms:Encrypt', 5] })), 'Statement 1: Action must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Action: [] })), 'Statement 1: Action must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Action: { kms: '*' } })), 'Statement 1: Action must be a string or a list of strings.');
  const { Action: _a, ...noAction } = ALLOW_ALL;
  assert.equal(rejection(withStatement({ ...noAction, NotAction: [true] })), 'Statement 1: NotAction must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Resource: 1 })), 'Statement 1: Resource must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, NotResource: [null] })), 'Statement 1: NotResource must be a string or a list of strings.');
});

test('a malformed Principal or NotPrincipal', () => {
  const shape = (key: string) => `Statement 1: ${key} must be "*" or an object such as {"AWS": "arn:…"}.`;
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Principal: 'arn:aws:iam::111122223333:root' })), shape('Principal'));
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Principal: {} })), shape('Principal'));
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Principal: ['*'] })), shape('Principal'));
  const { Principal: _p, ...noPrincipal } = ALLOW_ALL;
  assert.equal(rejection(withStatement({ ...noPrincipal, NotPrincipal: 7 })), shape('NotPrincipal'));
  assert.equal(
    rejection(withStatement({ ...ALLOW_ALL, Principal: { IAM: 'arn:aws:iam::111122223333:root' } })),
    "Statement 1: Principal has an unknown principal type 'IAM'.",
  );
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Principal: { AWS: [] } })), 'Statement 1: Principal.AWS must be a string or a list of strings.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Principal: { Service: 5 } })), 'Statement 1: Principal.Service must be a string or a list of strings.');
});

test('a malformed Condition', () => {
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Condition: 'StringEquals' })), 'Statement 1: Condition must be an object.');
  assert.equal(rejection(withStatement({ ...ALLOW_ALL, Condition: [] })), 'Statement 1: Condition must be an object.');
  assert.equal(
    rejection(withStatement({ ...ALLOW_ALL, Condition: { StringEquals: 'kms:ViaService' } })),
    'Statement 1: Condition operator StringEquals must map condition keys to values.',
  );
});
