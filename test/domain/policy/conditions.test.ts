// Condition operators, set qualifiers, …IfExists and Null, each row run through the real parser
// and evaluator. Rows follow the IAM user guide's operator tables and its worked examples.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContextValue } from '../../../src/domain/policy/index.js';
import { conditionHolds } from './support.js';

type Row = readonly [name: string, condition: Record<string, unknown>, keys: Record<string, ContextValue | undefined>, expected: boolean];

function runRows(rows: readonly Row[]): void {
  for (const [name, condition, keys, expected] of rows) {
    assert.equal(conditionHolds(condition, keys), expected, `${name}: ${JSON.stringify(condition)} with ${JSON.stringify(keys)}`);
  }
}

test('string operators', () => {
  runRows([
    ['StringEquals exact', { StringEquals: { 'aws:username': 'johndoe' } }, { 'aws:username': 'johndoe' }, true],
    ['StringEquals is case-sensitive', { StringEquals: { 'aws:username': 'johndoe' } }, { 'aws:username': 'JohnDoe' }, false],
    ['StringEquals: values OR', { StringEquals: { 'kms:CallerAccount': ['111', '222'] } }, { 'kms:CallerAccount': '222' }, true],
    ['StringEquals: no value matches', { StringEquals: { 'kms:CallerAccount': ['111', '222'] } }, { 'kms:CallerAccount': '333' }, false],
    ['StringEquals: absent key is false', { StringEquals: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, {}, false],
    ['StringEquals: no wildcards', { StringEquals: { 'kms:ViaService': 'ec2.*' } }, { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' }, false],
    ['StringEquals: key names ignore case', { StringEquals: { 'AWS:USERNAME': 'bob' } }, { 'aws:username': 'bob' }, true],
    ['StringEquals: number policy value', { StringEquals: { 'kms:CallerAccount': 111122223333 } }, { 'kms:CallerAccount': '111122223333' }, true],
    ['StringEquals: boolean request value', { StringEquals: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': true }, true],
    ['StringNotEquals different', { StringNotEquals: { 'aws:username': 'bob' } }, { 'aws:username': 'alice' }, true],
    ['StringNotEquals same', { StringNotEquals: { 'aws:username': 'bob' } }, { 'aws:username': 'bob' }, false],
    ['StringNotEquals: NOR over values, one matches', { StringNotEquals: { 'aws:PrincipalTag/role': ['audit', 'security'] } }, { 'aws:PrincipalTag/role': 'audit' }, false],
    ['StringNotEquals: NOR over values, none match', { StringNotEquals: { 'aws:PrincipalTag/role': ['audit', 'security'] } }, { 'aws:PrincipalTag/role': 'dev' }, true],
    ['StringNotEquals: absent key is true', { StringNotEquals: { 'aws:PrincipalOrgID': 'o-abc123' } }, {}, true],
    ['StringEqualsIgnoreCase', { StringEqualsIgnoreCase: { 'aws:username': 'JOHNDOE' } }, { 'aws:username': 'johndoe' }, true],
    ['StringEqualsIgnoreCase differs', { StringEqualsIgnoreCase: { 'aws:username': 'JOHNDOE' } }, { 'aws:username': 'janedoe' }, false],
    ['StringNotEqualsIgnoreCase same but case', { StringNotEqualsIgnoreCase: { 'aws:username': 'Bob' } }, { 'aws:username': 'bob' }, false],
    ['StringNotEqualsIgnoreCase different', { StringNotEqualsIgnoreCase: { 'aws:username': 'Bob' } }, { 'aws:username': 'rob' }, true],
    ['StringLike *', { StringLike: { 'kms:ViaService': 'ec2.*.amazonaws.com' } }, { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' }, true],
    ['StringLike ?', { StringLike: { 'aws:username': 'b?b' } }, { 'aws:username': 'bob' }, true],
    ['StringLike ? is exactly one', { StringLike: { 'aws:username': 'b?b' } }, { 'aws:username': 'boob' }, false],
    ['StringLike anchored', { StringLike: { 'aws:username': 'bo' } }, { 'aws:username': 'bob' }, false],
    ['StringLike is case-sensitive', { StringLike: { 'kms:RequestAlias': 'alias/Prod*' } }, { 'kms:RequestAlias': 'alias/prod-db' }, false],
    ['StringLike treats regex characters literally', { StringLike: { 'kms:RequestAlias': 'alias/a.b(c)+' } }, { 'kms:RequestAlias': 'alias/aXb(c)+' }, false],
    ['StringLike pathological pattern stays fast', { StringLike: { 'aws:username': '*a*a*a*a*a*a*a*a*a*b' } }, { 'aws:username': 'a'.repeat(64) }, false],
    ['StringNotLike', { StringNotLike: { 'kms:RequestAlias': 'alias/test-*' } }, { 'kms:RequestAlias': 'alias/prod' }, true],
    ['StringNotLike matching', { StringNotLike: { 'kms:RequestAlias': 'alias/test-*' } }, { 'kms:RequestAlias': 'alias/test-1' }, false],
  ]);
});

test('numeric operators', () => {
  runRows([
    ['NumericEquals', { NumericEquals: { 'kms:ValidTo': '10' } }, { 'kms:ValidTo': 10 }, true],
    ['NumericEquals decimal vs integer', { NumericEquals: { 'kms:ValidTo': '10.0' } }, { 'kms:ValidTo': '10' }, true],
    ['NumericEquals differs', { NumericEquals: { 'kms:ValidTo': 10 } }, { 'kms:ValidTo': 11 }, false],
    ['NumericNotEquals', { NumericNotEquals: { 'kms:ValidTo': [1, 2] } }, { 'kms:ValidTo': 3 }, true],
    ['NumericNotEquals NOR', { NumericNotEquals: { 'kms:ValidTo': [1, 2] } }, { 'kms:ValidTo': 2 }, false],
    ['NumericLessThan', { NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': 9 }, true],
    ['NumericLessThan equal is false', { NumericLessThan: { 's3:max-keys': 10 } }, { 's3:max-keys': 10 }, false],
    ['NumericLessThanEquals', { NumericLessThanEquals: { 's3:max-keys': '10' } }, { 's3:max-keys': '10' }, true],
    ['NumericGreaterThan', { NumericGreaterThan: { 's3:max-keys': -1 } }, { 's3:max-keys': 0 }, true],
    ['NumericGreaterThanEquals', { NumericGreaterThanEquals: { 's3:max-keys': 5 } }, { 's3:max-keys': 4 }, false],
    ['Numeric: non-numeric request value never matches', { NumericEquals: { 's3:max-keys': 5 } }, { 's3:max-keys': 'five' }, false],
    ['Numeric: absent key', { NumericLessThan: { 's3:max-keys': 5 } }, {}, false],
  ]);
});

test('date operators (ISO 8601 and epoch seconds)', () => {
  const now = { 'aws:CurrentTime': '2024-06-01T12:00:00Z', 'aws:EpochTime': 1717243200 };
  runRows([
    ['DateGreaterThan ISO', { DateGreaterThan: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now, true],
    ['DateLessThan ISO', { DateLessThan: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } }, now, false],
    ['DateLessThan date only', { DateLessThan: { 'aws:CurrentTime': '2024-06-02' } }, now, true],
    ['DateLessThan year only', { DateLessThan: { 'aws:CurrentTime': '2025' } }, now, true],
    ['DateEquals with offset', { DateEquals: { 'aws:CurrentTime': '2024-06-01T14:00:00+02:00' } }, now, true],
    ['DateEquals epoch vs ISO', { DateEquals: { 'aws:CurrentTime': '1717243200' } }, now, true],
    ['DateNotEquals', { DateNotEquals: { 'aws:CurrentTime': '2024-06-01T12:00:01Z' } }, now, true],
    ['DateLessThanEquals epoch key', { DateLessThanEquals: { 'aws:EpochTime': '2024-06-01T12:00:00Z' } }, now, true],
    ['DateGreaterThanEquals epoch key', { DateGreaterThanEquals: { 'aws:EpochTime': 1717243201 } }, now, false],
    ['DateGreaterThan fractional seconds', { DateGreaterThan: { 'aws:CurrentTime': '2024-06-01T11:59:59.5Z' } }, now, true],
    ['Date: absent key', { DateGreaterThan: { 'aws:TokenIssueTime': '2020-01-01T00:00:01Z' } }, {}, false],
  ]);
});

test('Bool and BinaryEquals', () => {
  runRows([
    ['Bool true', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': true }, true],
    ['Bool false vs true', { Bool: { 'aws:SecureTransport': 'false' } }, { 'aws:SecureTransport': true }, false],
    ['Bool JSON boolean', { Bool: { 'kms:GrantIsForAWSResource': true } }, { 'kms:GrantIsForAWSResource': true }, true],
    ['Bool ignores case', { Bool: { 'aws:SecureTransport': 'FALSE' } }, { 'aws:SecureTransport': 'false' }, true],
    ['Bool absent key', { Bool: { 'aws:SecureTransport': 'false' } }, {}, false],
    ['Bool non-boolean request value', { Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': 'yes' }, false],
    ['BinaryEquals', { BinaryEquals: { 'kms:RecipientAttestation:PCR0': 'QmluYXJ5VmFsdWVJbkJhc2U2NA==' } }, { 'kms:RecipientAttestation:PCR0': Buffer.from('BinaryValueInBase64').toString('base64') }, true],
    ['BinaryEquals differs', { BinaryEquals: { 'kms:RecipientAttestation:PCR0': 'QUJD' } }, { 'kms:RecipientAttestation:PCR0': 'QUJE' }, false],
  ]);
});

test('IP address operators', () => {
  runRows([
    ['IpAddress /24 inside', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.113.77' }, true],
    ['IpAddress /24 outside', { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.114.1' }, false],
    ['IpAddress no prefix is /32', { IpAddress: { 'aws:SourceIp': '203.0.113.5' } }, { 'aws:SourceIp': '203.0.113.5' }, true],
    ['IpAddress /32 other host', { IpAddress: { 'aws:SourceIp': '203.0.113.5' } }, { 'aws:SourceIp': '203.0.113.6' }, false],
    ['IpAddress /0', { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }, { 'aws:SourceIp': '198.51.100.1' }, true],
    ['IpAddress IPv6 /64', { IpAddress: { 'aws:SourceIp': '2001:DB8:1234:5678::/64' } }, { 'aws:SourceIp': '2001:db8:1234:5678:abcd::1' }, true],
    ['IpAddress IPv6 outside', { IpAddress: { 'aws:SourceIp': '2001:DB8:1234:5678::/64' } }, { 'aws:SourceIp': '2001:db8:1234:5679::1' }, false],
    ['IpAddress IPv4 never matches an IPv6 range', { IpAddress: { 'aws:SourceIp': '::/0' } }, { 'aws:SourceIp': '10.0.0.1' }, false],
    ['IpAddress mixed list', { IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '2001:DB8:1234:5678::/64'] } }, { 'aws:SourceIp': '2001:db8:1234:5678::9' }, true],
    ['IpAddress loopback v6', { IpAddress: { 'aws:SourceIp': '::1' } }, { 'aws:SourceIp': '::1' }, true],
    ['NotIpAddress outside', { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:SourceIp': '11.0.0.1' }, true],
    ['NotIpAddress inside', { NotIpAddress: { 'aws:SourceIp': ['192.168.0.0/16', '10.0.0.0/8'] } }, { 'aws:SourceIp': '10.1.2.3' }, false],
    ['NotIpAddress absent key is true', { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, {}, true],
    ['IpAddress garbage request value', { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { 'aws:SourceIp': '10.0.0.256' }, false],
  ]);
});

test('ARN operators match each of the six parts on its own', () => {
  const logGroup = 'arn:aws:logs:us-east-2:111122223333:log-group:app:*';
  runRows([
    ['ArnLike', { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:us-east-2:111122223333:log-group:*' } }, { 'kms:EncryptionContext:aws:logs:arn': logGroup }, true],
    ['ArnEquals behaves like ArnLike', { ArnEquals: { 'aws:SourceArn': 'arn:aws:sns:*:111122223333:topic' } }, { 'aws:SourceArn': 'arn:aws:sns:us-east-1:111122223333:topic' }, true],
    ['ArnLike: * cannot cross a colon (docs example)', { ArnLike: { 'aws:SourceArn': 'arn:aws:someservice:*:111122223333:finance/*' } }, { 'aws:SourceArn': 'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt' }, false],
    ['StringLike: the same value does match (docs example)', { StringLike: { 'aws:SourceArn': 'arn:aws:someservice:*:111122223333:finance/*' } }, { 'aws:SourceArn': 'arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt' }, true],
    ['ArnLike is case-sensitive', { ArnLike: { 'aws:SourceArn': 'arn:aws:sns:*:111122223333:Topic' } }, { 'aws:SourceArn': 'arn:aws:sns:us-east-1:111122223333:topic' }, false],
    ['ArnLike: non-ARN request value', { ArnLike: { 'aws:SourceArn': 'arn:aws:sns:*:*:*' } }, { 'aws:SourceArn': 'topic' }, false],
    ['ArnNotLike', { ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/Admin*' } }, { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/App' }, true],
    ['ArnNotEquals matching', { ArnNotEquals: { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/App' } }, { 'aws:PrincipalArn': 'arn:aws:iam::111122223333:role/App' }, false],
    ['ArnNotLike absent key is true', { ArnNotLike: { 'aws:SourceArn': 'arn:aws:sns:*:*:*' } }, {}, true],
  ]);
});

test('Null checks presence only', () => {
  runRows([
    ['Null true, key absent', { Null: { 'aws:TokenIssueTime': 'true' } }, {}, true],
    ['Null true, key present', { Null: { 'aws:TokenIssueTime': 'true' } }, { 'aws:TokenIssueTime': '2024-01-01T00:00:00Z' }, false],
    ['Null false, key present', { Null: { 'kms:EncryptionContextKeys': 'false' } }, { 'kms:EncryptionContextKeys': ['a'] }, true],
    ['Null false, key absent', { Null: { 'kms:EncryptionContextKeys': false } }, {}, false],
    ['Null false, empty multi-valued key is absent', { Null: { 'kms:EncryptionContextKeys': 'false' } }, { 'kms:EncryptionContextKeys': [] }, false],
    ['Null on a boolean key set to false: present', { Null: { 'kms:BypassPolicyLockoutSafetyCheck': true } }, { 'kms:BypassPolicyLockoutSafetyCheck': false }, false],
  ]);
});

test('…IfExists: an absent key satisfies the test, a present one is tested', () => {
  runRows([
    ['StringEqualsIfExists absent', { StringEqualsIfExists: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, {}, true],
    ['StringEqualsIfExists present, match', { StringEqualsIfExists: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' }, true],
    ['StringEqualsIfExists present, mismatch', { StringEqualsIfExists: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, { 'kms:ViaService': 'rds.us-east-1.amazonaws.com' }, false],
    ['StringNotEqualsIfExists absent', { StringNotEqualsIfExists: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, {}, true],
    ['StringNotEqualsIfExists present, same', { StringNotEqualsIfExists: { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } }, { 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' }, false],
    ['StringLikeIfExists present', { StringLikeIfExists: { 'ec2:InstanceType': ['t1.*', 't2.*', 'm3.*'] } }, { 'ec2:InstanceType': 'm5.large' }, false],
    ['NumericLessThanIfExists absent', { NumericLessThanIfExists: { 's3:max-keys': 10 } }, {}, true],
    ['DateLessThanIfExists present', { DateLessThanIfExists: { 'aws:CurrentTime': '2020-01-01' } }, { 'aws:CurrentTime': '2024-01-01T00:00:00Z' }, false],
    ['BoolIfExists absent', { BoolIfExists: { 'aws:MultiFactorAuthPresent': 'false' } }, {}, true],
    ['IpAddressIfExists absent', { IpAddressIfExists: { 'aws:SourceIp': '10.0.0.0/8' } }, {}, true],
    ['ArnLikeIfExists present, mismatch', { ArnLikeIfExists: { 'aws:SourceArn': 'arn:aws:sns:*:111122223333:*' } }, { 'aws:SourceArn': 'arn:aws:sns:us-east-1:444455556666:t' }, false],
    ['BinaryEqualsIfExists absent', { BinaryEqualsIfExists: { 'kms:RecipientAttestation:PCR0': 'QUJD' } }, {}, true],
  ]);
});

test('ForAllValues and ForAnyValue set qualifiers', () => {
  runRows([
    // The IAM guide's DynamoDB example: every requested attribute must be listed.
    ['ForAllValues: every request value listed', { 'ForAllValues:StringLike': { 'dynamodb:requestedAttributes': ['PostDateTime', 'Message', 'Tags'] } }, { 'dynamodb:requestedAttributes': ['PostDateTime', 'Message'] }, true],
    ['ForAllValues: one request value unlisted', { 'ForAllValues:StringLike': { 'dynamodb:requestedAttributes': ['PostDateTime', 'Message', 'Tags'] } }, { 'dynamodb:requestedAttributes': ['PostDateTime', 'UserName'] }, false],
    ['ForAllValues: absent key is true', { 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName'] } }, {}, true],
    ['ForAllValues: empty set is true', { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a'] } }, { 'aws:TagKeys': [] }, true],
    ['ForAnyValue: one match', { 'ForAnyValue:StringLike': { 'dynamodb:requestedAttributes': ['ID', 'PostDateTime'] } }, { 'dynamodb:requestedAttributes': ['UserName', 'Message', 'PostDateTime'] }, true],
    ['ForAnyValue: no match', { 'ForAnyValue:StringLike': { 'dynamodb:requestedAttributes': ['ID', 'PostDateTime'] } }, { 'dynamodb:requestedAttributes': ['UserName'] }, false],
    ['ForAnyValue: absent key is false', { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' } }, {}, false],
    ['ForAnyValue: empty set is false', { 'ForAnyValue:StringEquals': { 'aws:TagKeys': 'a' } }, { 'aws:TagKeys': [] }, false],
    ['ForAnyValue: single (scalar) request value', { 'ForAnyValue:StringEquals': { 'kms:GrantOperations': 'Decrypt' } }, { 'kms:GrantOperations': 'Decrypt' }, true],
    // The IAM guide's ForAllValues:StringNotLike deny example on aws:TagKeys.
    ['ForAllValues:StringNotLike [key1:legal] does not match', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key1:legal'] }, false],
    ['ForAllValues:StringNotLike [key1:hr, key1:personnel] does not match', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key1:hr', 'key1:personnel'] }, false],
    ['ForAllValues:StringNotLike [key2:audit] matches', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key2:audit'] }, true],
    ['ForAllValues:StringNotLike no tags matches', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, {}, true],
    ['ForAllValues:StringNotLike mixed set does not match', { 'ForAllValues:StringNotLike': { 'aws:TagKeys': 'key1*' } }, { 'aws:TagKeys': ['key2:audit', 'key1:hr'] }, false],
    ['ForAnyValue:StringNotEquals: one value outside the list', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:TagKeys': ['a', 'c'] }, true],
    ['ForAnyValue:StringNotEquals: all values in the list', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': ['a', 'b'] } }, { 'aws:TagKeys': ['b', 'a'] }, false],
    ['ForAnyValue:StringNotEquals: absent key is false', { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': 'a' } }, {}, false],
    ['ForAllValues:StringEqualsIgnoreCase', { 'ForAllValues:StringEqualsIgnoreCase': { 'kms:EncryptionContextKeys': ['appname'] } }, { 'kms:EncryptionContextKeys': ['AppName'] }, true],
    ['ForAnyValue:StringEqualsIfExists absent', { 'ForAnyValue:StringEqualsIfExists': { 'kms:GrantOperations': 'Decrypt' } }, {}, true],
    ['ForAllValues:NumericLessThan', { 'ForAllValues:NumericLessThan': { 'x:sizes': 10 } }, { 'x:sizes': [1, 5, 9] }, true],
    ['ForAllValues:NumericLessThan one too big', { 'ForAllValues:NumericLessThan': { 'x:sizes': 10 } }, { 'x:sizes': [1, 50] }, false],
    ['ForAnyValue:ArnLike', { 'ForAnyValue:ArnLike': { 'x:arns': 'arn:aws:iam::*:role/App' } }, { 'x:arns': ['arn:aws:iam::1:user/u', 'arn:aws:iam::2:role/App'] }, true],
    ['ForAnyValue:IpAddress', { 'ForAnyValue:IpAddress': { 'x:ips': '10.0.0.0/8' } }, { 'x:ips': ['192.0.2.1', '10.9.9.9'] }, true],
    // Plain operator, multi-valued request key: positive needs one match, negated needs none.
    ['plain StringEquals on a list: any value', { StringEquals: { 'kms:ResourceAliases': 'alias/prod' } }, { 'kms:ResourceAliases': ['alias/test', 'alias/prod'] }, true],
    ['plain StringNotEquals on a list: one value equal', { StringNotEquals: { 'kms:ResourceAliases': 'alias/prod' } }, { 'kms:ResourceAliases': ['alias/test', 'alias/prod'] }, false],
  ]);
});

test('several operators and several keys are ANDed', () => {
  const condition = {
    StringEquals: { 'kms:CallerAccount': '111122223333', 'kms:ViaService': 'ec2.us-west-2.amazonaws.com' },
    Bool: { 'aws:SecureTransport': 'true' },
  };
  runRows([
    ['all hold', condition, { 'kms:CallerAccount': '111122223333', 'kms:ViaService': 'ec2.us-west-2.amazonaws.com', 'aws:SecureTransport': true }, true],
    ['second key fails', condition, { 'kms:CallerAccount': '111122223333', 'kms:ViaService': 'rds.us-west-2.amazonaws.com', 'aws:SecureTransport': true }, false],
    ['second operator fails', condition, { 'kms:CallerAccount': '111122223333', 'kms:ViaService': 'ec2.us-west-2.amazonaws.com', 'aws:SecureTransport': false }, false],
    ['a key absent', condition, { 'kms:CallerAccount': '111122223333', 'aws:SecureTransport': true }, false],
  ]);
});

test('policy variables', () => {
  runRows([
    ['${aws:username} in StringEquals', { StringEquals: { 'aws:PrincipalTag/owner': '${aws:username}' } }, { 'aws:username': 'bob', 'aws:PrincipalTag/owner': 'bob' }, true],
    ['${aws:username} mismatch', { StringEquals: { 'aws:PrincipalTag/owner': '${aws:username}' } }, { 'aws:username': 'bob', 'aws:PrincipalTag/owner': 'alice' }, false],
    ['variable with an absent key matches nothing', { StringEquals: { 'aws:PrincipalTag/owner': '${aws:username}' } }, { 'aws:PrincipalTag/owner': '' }, false],
    ['variable default', { StringEquals: { 'aws:PrincipalTag/owner': "${aws:username, 'nobody'}" } }, { 'aws:PrincipalTag/owner': 'nobody' }, true],
    ['variable in StringLike with wildcard around it', { StringLike: { 'kms:RequestAlias': 'alias/${aws:username}-*' } }, { 'aws:username': 'bob', 'kms:RequestAlias': 'alias/bob-data' }, true],
    ['a substituted value is literal, not a wildcard', { StringLike: { 'kms:RequestAlias': 'alias/${aws:username}' } }, { 'aws:username': '*', 'kms:RequestAlias': 'alias/bob' }, false],
    ['${*} is a literal asterisk in StringLike', { StringLike: { 'x:v': 'a${*}' } }, { 'x:v': 'a*' }, true],
    ['${*} does not act as a wildcard', { StringLike: { 'x:v': 'a${*}' } }, { 'x:v': 'abc' }, false],
    ['variable in ArnLike', { ArnLike: { 'aws:PrincipalArn': 'arn:aws:iam::${aws:PrincipalAccount}:user/*' } }, { 'aws:PrincipalAccount': '111122223333', 'aws:PrincipalArn': 'arn:aws:iam::111122223333:user/bob' }, true],
  ]);
  // Version 2008-10-17 has no variables: the text is literal.
  assert.equal(conditionHolds({ StringEquals: { 'x:v': '${aws:username}' } }, { 'x:v': '${aws:username}', 'aws:username': 'bob' }, '2008-10-17'), true);
  assert.equal(conditionHolds({ StringEquals: { 'x:v': '${aws:username}' } }, { 'x:v': 'bob', 'aws:username': 'bob' }, '2008-10-17'), false);
});
