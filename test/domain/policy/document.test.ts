// Parsing policy documents: the typed model, and every refusal with its message.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KmsError } from '../../../src/domain/errors.js';
import type { PolicyKind } from '../../../src/domain/policy/index.js';
import { INVALID_PRINCIPALS, parsePolicy, parsePolicyObject } from '../../../src/domain/policy/index.js';

const ROOT_ARN = 'arn:aws:iam::111122223333:root';
const KEY_STATEMENT = { Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' };
const IDENTITY_STATEMENT = { Effect: 'Allow', Action: 'kms:Encrypt', Resource: '*' };

function rejection(doc: unknown, kind: PolicyKind = 'key'): string {
  try {
    parsePolicy(typeof doc === 'string' ? doc : JSON.stringify(doc), { kind });
  } catch (err) {
    assert.ok(err instanceof KmsError, String(err));
    assert.equal(err.kmsName, 'MalformedPolicyDocumentException');
    return err.message;
  }
  assert.fail(`accepted: ${JSON.stringify(doc)}`);
}

const one = (statement: Record<string, unknown>): unknown => ({ Version: '2012-10-17', Statement: [statement] });

test('a key policy becomes a typed model', () => {
  const policy = parsePolicy(
    JSON.stringify({
      Version: '2012-10-17',
      Id: 'key-consolepolicy-3',
      Statement: [
        KEY_STATEMENT,
        {
          Sid: 'Deny outside',
          Effect: 'Deny',
          NotPrincipal: { AWS: ['111122223333', 'arn:aws:iam::111122223333:role/ops/Admin', 'arn:aws:sts::111122223333:assumed-role/Admin/s'] },
          NotAction: ['kms:Describe*', 'kms:List*'],
          NotResource: 'arn:aws:kms:*:111122223333:key/*',
          Condition: { 'ForAnyValue:StringLikeIfExists': { 'kms:EncryptionContextKeys': ['a', 'b'] }, Null: { 'aws:TokenIssueTime': true } },
        },
        { Effect: 'Allow', Principal: { Service: 'Logs.us-east-1.amazonaws.com' }, Action: 'kms:Decrypt' },
      ],
    }),
    { kind: 'key' },
  );
  assert.equal(policy.kind, 'key');
  assert.equal(policy.version, '2012-10-17');
  assert.equal(policy.id, 'key-consolepolicy-3');
  assert.equal(policy.statements.length, 3);
  const [first, second, third] = policy.statements;
  assert.deepEqual(first!.principal, { any: false, aws: [{ type: 'account', accountId: '111122223333', partition: 'aws' }], services: [], other: [] });
  assert.deepEqual(first!.action, ['kms:*']);
  assert.deepEqual(first!.resource, ['*']);
  assert.equal(first!.index, 1);
  assert.equal(second!.sid, 'Deny outside');
  assert.equal(second!.effect, 'Deny');
  assert.equal(second!.principal, undefined);
  assert.deepEqual(
    second!.notPrincipal!.aws.map((r) => r.type),
    ['account', 'role', 'assumed-role'],
  );
  assert.deepEqual(second!.notAction, ['kms:Describe*', 'kms:List*']);
  assert.deepEqual(second!.notResource, ['arn:aws:kms:*:111122223333:key/*']);
  assert.deepEqual(second!.conditions, [
    { operator: 'ForAnyValue:StringLikeIfExists', base: 'StringLike', qualifier: 'ForAnyValue', ifExists: true, key: 'kms:EncryptionContextKeys', values: ['a', 'b'] },
    { operator: 'Null', base: 'Null', qualifier: undefined, ifExists: false, key: 'aws:TokenIssueTime', values: ['true'] },
  ]);
  assert.deepEqual(third!.principal!.services, ['logs.us-east-1.amazonaws.com']);
  assert.equal(third!.resource, undefined);
});

test('"*" and {"AWS": "*"} are both "everyone"', () => {
  for (const principal of ['*', { AWS: '*' }, { AWS: ['arn:aws:iam::111122223333:user/x', '*'] }]) {
    const policy = parsePolicy(JSON.stringify(one({ ...KEY_STATEMENT, Principal: principal })), { kind: 'key' });
    assert.equal(policy.statements[0]!.principal!.any, true, JSON.stringify(principal));
  }
});

test('valid principal forms are accepted', () => {
  for (const aws of [
    '111122223333',
    'arn:aws:iam::111122223333:root',
    'arn:aws-cn:iam::111122223333:root',
    'arn:aws:iam::111122223333:user/bob',
    'arn:aws:iam::111122223333:user/division/team/bob',
    'arn:aws:iam::111122223333:role/service-role/App+Role=1,2.3@4_5-6',
    'arn:aws:sts::111122223333:assumed-role/App/i-0123',
    'arn:aws:sts::111122223333:federated-user/carol',
  ]) {
    assert.doesNotThrow(() => parsePolicy(JSON.stringify(one({ ...KEY_STATEMENT, Principal: { AWS: aws } })), { kind: 'key' }), aws);
  }
});

test('invalid principals: "Policy contains a statement with one or more invalid principals."', () => {
  const rows: unknown[] = [
    { AWS: 'bob' },
    { AWS: '11112222333' },
    { AWS: '1111222233334' },
    { AWS: 'arn:aws:iam::*:root' },
    { AWS: 'arn:aws:iam::111122223333:user/*' },
    { AWS: 'arn:aws:iam::111122223333:group/admins' },
    { AWS: 'arn:aws:s3:::bucket' },
    { AWS: 'arn:aws:iam:us-east-1:111122223333:root' },
    { AWS: ['arn:aws:iam::111122223333:root', 'nobody'] },
    { AWS: 'arn:aws:sts::111122223333:assumed-role/App' },
    { Service: 'not a service' },
    { Service: '' },
    { Federated: '' },
  ];
  for (const principal of rows) {
    assert.equal(rejection(one({ ...KEY_STATEMENT, Principal: principal })), INVALID_PRINCIPALS, JSON.stringify(principal));
  }
  assert.equal(INVALID_PRINCIPALS, 'Policy contains a statement with one or more invalid principals.');
});

test('malformed documents are refused with a message naming the problem', () => {
  const rows: ReadonlyArray<readonly [unknown, string]> = [
    ['{', 'The policy is not valid JSON.'],
    ['[]', 'The policy must be a JSON object.'],
    [{ Version: '2012-10-17', Statement: [KEY_STATEMENT], Extra: 1 }, "The policy has an unknown element 'Extra'."],
    [{ Version: '2012-10-18', Statement: [KEY_STATEMENT] }, 'The policy Version must be "2012-10-17" or "2008-10-17".'],
    [{ Id: [], Statement: [KEY_STATEMENT] }, 'The policy Id must be a string.'],
    [{ Statement: [] }, 'The policy must contain a Statement.'],
    [{ Statement: [KEY_STATEMENT, 'x'] }, 'Statement 2 must be a JSON object.'],
    [one({ ...KEY_STATEMENT, Effect: 'Permit' }), 'Statement 1: Effect must be "Allow" or "Deny".'],
    [one({ ...KEY_STATEMENT, Effect: 'deny' }), 'Statement 1: Effect must be "Allow" or "Deny".'],
    [one({ ...KEY_STATEMENT, principal: '*' }), "Statement 1 has an unknown element 'principal'."],
    [one({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }), 'Statement 1 must contain exactly one of Principal or NotPrincipal.'],
    [one({ ...KEY_STATEMENT, Action: undefined }), 'Statement 1 must contain exactly one of Action or NotAction.'],
    [one({ ...KEY_STATEMENT, Action: 'Encrypt' }), 'Statement 1: Action \'Encrypt\' must be "*" or of the form "kms:Operation".'],
    [one({ ...KEY_STATEMENT, Action: ['kms:Encrypt', 'kms:'] }), 'Statement 1: Action \'kms:\' must be "*" or of the form "kms:Operation".'],
    [one({ ...KEY_STATEMENT, Action: undefined, NotAction: 'kms Encrypt' }), 'Statement 1: NotAction \'kms Encrypt\' must be "*" or of the form "kms:Operation".'],
    [one({ ...KEY_STATEMENT, Resource: 'key/1234' }), 'Statement 1: Resource \'key/1234\' must be "*" or an ARN.'],
    [one({ ...KEY_STATEMENT, Resource: 'arn:aws:kms' }), 'Statement 1: Resource \'arn:aws:kms\' must be "*" or an ARN.'],
    [one({ ...KEY_STATEMENT, NotResource: '*' }), 'Statement 1 must not contain both Resource and NotResource.'],
    [one({ ...KEY_STATEMENT, Condition: { StringEqual: { 'kms:ViaService': 'x' } } }), "Statement 1: Condition has an unknown operator 'StringEqual'."],
    [one({ ...KEY_STATEMENT, Condition: { stringequals: { 'kms:ViaService': 'x' } } }), "Statement 1: Condition has an unknown operator 'stringequals'."],
    [one({ ...KEY_STATEMENT, Condition: { NullIfExists: { 'kms:ViaService': 'true' } } }), "Statement 1: Condition has an unknown operator 'NullIfExists'."],
    [one({ ...KEY_STATEMENT, Condition: { 'ForAllValues:Null': { 'kms:ViaService': 'true' } } }), "Statement 1: Condition has an unknown operator 'ForAllValues:Null'."],
    [one({ ...KEY_STATEMENT, Condition: { 'ForSomeValues:StringEquals': { 'aws:TagKeys': 'x' } } }), "Statement 1: Condition has an unknown operator 'ForSomeValues:StringEquals'."],
    [one({ ...KEY_STATEMENT, Condition: { StringEquals: { ViaService: 'x' } } }), 'Statement 1: Condition key \'ViaService\' under StringEquals must be of the form "service:name".'],
    [one({ ...KEY_STATEMENT, Condition: { StringEquals: { 'kms:ViaService': [] } } }), "Statement 1: Condition StringEquals value for 'kms:ViaService' must be a string, number or boolean, or a non-empty list of them."],
    [one({ ...KEY_STATEMENT, Condition: { StringEquals: { 'kms:ViaService': { a: 1 } } } }), "Statement 1: Condition StringEquals value for 'kms:ViaService' must be a string, number or boolean, or a non-empty list of them."],
    [one({ ...KEY_STATEMENT, Condition: { StringEquals: { 'kms:ViaService': null } } }), "Statement 1: Condition StringEquals value for 'kms:ViaService' must be a string, number or boolean, or a non-empty list of them."],
    [one({ ...KEY_STATEMENT, Condition: { NumericLessThan: { 's3:max-keys': 'ten' } } }), "Statement 1: Condition NumericLessThan value 'ten' for 's3:max-keys' is not a number."],
    [one({ ...KEY_STATEMENT, Condition: { DateGreaterThan: { 'aws:CurrentTime': 'yesterday' } } }), "Statement 1: Condition DateGreaterThan value 'yesterday' for 'aws:CurrentTime' is not an ISO 8601 date or epoch time."],
    [one({ ...KEY_STATEMENT, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }), "Statement 1: Condition IpAddress value '10.0.0.0/33' for 'aws:SourceIp' is not an IPv4 or IPv6 address or CIDR range."],
    [one({ ...KEY_STATEMENT, Condition: { NotIpAddressIfExists: { 'aws:SourceIp': '2001:db8::g/64' } } }), "Statement 1: Condition NotIpAddressIfExists value '2001:db8::g/64' for 'aws:SourceIp' is not an IPv4 or IPv6 address or CIDR range."],
    [one({ ...KEY_STATEMENT, Condition: { Null: { 'aws:TokenIssueTime': 'yes' } } }), "Statement 1: Condition Null value 'yes' for 'aws:TokenIssueTime' must be \"true\" or \"false\"."],
    [one({ ...KEY_STATEMENT, Condition: { BinaryEquals: { 'x:y': 'not base64!' } } }), "Statement 1: Condition BinaryEquals value 'not base64!' for 'x:y' is not base64."],
  ];
  for (const [doc, message] of rows) {
    assert.equal(rejection(doc), message, JSON.stringify(doc));
  }
});

test('KMS refuses ForAllValues with kms:EncryptionContext:<key> and aws:RequestTag/<key> in key policies', () => {
  assert.equal(
    rejection(one({ ...KEY_STATEMENT, Condition: { 'ForAllValues:StringEquals': { 'kms:EncryptionContext:Department': 'IT' } } })),
    'OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues.',
  );
  assert.equal(
    rejection(one({ ...KEY_STATEMENT, Condition: { 'ForAllValues:StringLike': { 'AWS:RequestTag/Project': '*' } } })),
    'OverlyPermissiveCondition:RequestTag: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues.',
  );
  // ForAnyValue, and ForAllValues on the multi-valued kms:EncryptionContextKeys, are fine.
  for (const condition of [
    { 'ForAnyValue:StringEquals': { 'kms:EncryptionContext:Department': 'IT' } },
    { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['Department'] } },
  ]) {
    assert.doesNotThrow(() => parsePolicy(JSON.stringify(one({ ...KEY_STATEMENT, Condition: condition })), { kind: 'key' }));
  }
});

test('identity policies must not name a principal; key policies must', () => {
  assert.equal(rejection(one({ ...IDENTITY_STATEMENT, Principal: '*' }), 'identity'), 'Statement 1: Policy document should not specify a principal.');
  assert.equal(rejection(one({ ...IDENTITY_STATEMENT, NotPrincipal: { AWS: ROOT_ARN } }), 'identity'), 'Statement 1: Policy document should not specify a principal.');
  assert.equal(rejection(one(IDENTITY_STATEMENT), 'key'), 'Statement 1 must contain exactly one of Principal or NotPrincipal.');
  const policy = parsePolicy(JSON.stringify(one(IDENTITY_STATEMENT)), { kind: 'identity' });
  assert.equal(policy.kind, 'identity');
  assert.equal(policy.statements[0]!.principal, undefined);
});

test('the character-set rule is KMS\'s, for key policies only; parsePolicyObject takes parsed JSON', () => {
  const text = JSON.stringify(one({ ...IDENTITY_STATEMENT, Sid: 'x' })).replace('"x"', '"\u2013"');
  assert.doesNotThrow(() => parsePolicy(text, { kind: 'identity' }));
  assert.equal(
    rejection(JSON.stringify(one({ ...KEY_STATEMENT, Sid: 'x' })).replace('"x"', '"\u2013"')),
    'The policy contains characters outside the allowed set (tab, LF, CR, U+0020–U+00FF).',
  );
  const parsed = parsePolicyObject(one(IDENTITY_STATEMENT), { kind: 'identity' });
  assert.deepEqual(parsed.statements[0]!.action, ['kms:Encrypt']);
  assert.throws(() => parsePolicyObject(null, { kind: 'identity' }), /The policy must be a JSON object\./);
});
