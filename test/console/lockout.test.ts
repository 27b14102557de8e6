// The console's key-policy lockout warning (console/src/views/key-detail/lockout.ts): which new
// policies still let the signed-in caller call kms:PutKeyPolicy, and which may lock it out.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { lockoutRisk, wildcardMatch } from '../../console/src/views/key-detail/lockout.js';

const ACCOUNT = '111122223333';
const ROOT = `arn:aws:iam::${ACCOUNT}:root`;
const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`;
const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`;
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

function policy(...statements: object[]): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}
const allow = (principal: unknown, action: unknown = 'kms:*', extra: object = {}) => ({ Effect: 'Allow', Principal: principal, Action: action, Resource: '*', ...extra });
const deny = (principal: unknown, action: unknown = 'kms:PutKeyPolicy', extra: object = {}) => ({ Effect: 'Deny', Principal: principal, Action: action, Resource: '*', ...extra });

test('the default key policy (the account root, kms:*) keeps control for the root and for a user', () => {
  const text = policy(allow({ AWS: ROOT }));
  assert.equal(lockoutRisk(text, ROOT, ACCOUNT), undefined);
  assert.equal(lockoutRisk(text, ALICE, ACCOUNT), undefined);
  assert.equal(lockoutRisk(policy(allow({ AWS: ACCOUNT })), ALICE, ACCOUNT, KEY_ARN), undefined);
});

test('the root ARN follows the caller ARN’s partition', () => {
  const govRoot = `arn:aws-us-gov:iam::${ACCOUNT}:root`;
  const govUser = `arn:aws-us-gov:iam::${ACCOUNT}:user/alice`;
  assert.equal(lockoutRisk(policy(allow({ AWS: govRoot })), govUser, ACCOUNT), undefined);
  assert.match(lockoutRisk(policy(allow({ AWS: ROOT })), govUser, ACCOUNT) ?? '', /No statement allows you/);
});

test('the caller’s own ARN, alone or in a list, keeps control', () => {
  assert.equal(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:PutKeyPolicy')), ALICE, ACCOUNT), undefined);
  assert.equal(lockoutRisk(policy(allow({ AWS: [BOB, ALICE] }, ['kms:Encrypt', 'kms:PutKeyPolicy'])), ALICE, ACCOUNT), undefined);
});

test('an assumed-role session keeps control through its role, whatever the role’s path', () => {
  const session = `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/console`;
  assert.equal(lockoutRisk(policy(allow({ AWS: `arn:aws:iam::${ACCOUNT}:role/ops/Admin` })), session, ACCOUNT), undefined);
  assert.ok(lockoutRisk(policy(allow({ AWS: `arn:aws:iam::${ACCOUNT}:role/Other` })), session, ACCOUNT));
});

test('a policy only for another user, or another account, is a risk', () => {
  const risk = lockoutRisk(policy(allow({ AWS: BOB })), ALICE, ACCOUNT);
  assert.match(risk ?? '', /No statement allows you \(arn:aws:iam::111122223333:user\/alice\) kms:PutKeyPolicy/);
  assert.ok(lockoutRisk(policy(allow({ AWS: 'arn:aws:iam::444455556666:root' })), ROOT, ACCOUNT));
  assert.ok(lockoutRisk(policy(allow({ Service: 'logs.amazonaws.com' })), ROOT, ACCOUNT));
});

test('an Allow that does not cover kms:PutKeyPolicy is a risk', () => {
  assert.ok(lockoutRisk(policy(allow({ AWS: ALICE }, ['kms:Encrypt', 'kms:Decrypt', 'kms:Get*'])), ALICE, ACCOUNT));
  assert.ok(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:*', { Resource: 'arn:aws:kms:us-east-1:111122223333:key/other' })), ALICE, ACCOUNT, KEY_ARN));
  assert.ok(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:*', { Effect: 'allow' })), ALICE, ACCOUNT));
});

test('"*", "kms:*" and "kms:Put*" actions match, case-insensitively; NotAction too', () => {
  for (const action of ['*', 'kms:*', 'kms:Put*', 'KMS:PUTKEYPOLICY', 'kms:PutKey?olicy', ['kms:Encrypt', 'Kms:*']]) {
    assert.equal(lockoutRisk(policy(allow({ AWS: ALICE }, action)), ALICE, ACCOUNT), undefined, JSON.stringify(action));
  }
  const notAction = { Effect: 'Allow', Principal: { AWS: ALICE }, NotAction: 'kms:ScheduleKeyDeletion', Resource: '*' };
  assert.equal(lockoutRisk(policy(notAction), ALICE, ACCOUNT), undefined);
  assert.ok(lockoutRisk(policy({ ...notAction, NotAction: 'kms:Put*' }), ALICE, ACCOUNT));
});

test('Principal "*" and {"AWS": "*"} keep control', () => {
  assert.equal(lockoutRisk(policy(allow('*')), ALICE, ACCOUNT), undefined);
  assert.equal(lockoutRisk(policy(allow({ AWS: '*' })), ALICE, ACCOUNT), undefined);
});

test('a Deny that matches the caller and kms:PutKeyPolicy is a risk, even next to an Allow', () => {
  const allowAll = allow({ AWS: ROOT });
  assert.match(lockoutRisk(policy(allowAll, { ...deny({ AWS: ALICE }), Sid: 'NoPolicyEdits' }), ALICE, ACCOUNT) ?? '', /Statement "NoPolicyEdits" denies you/);
  assert.ok(lockoutRisk(policy(allowAll, deny('*', 'kms:*')), ALICE, ACCOUNT));
  assert.ok(lockoutRisk(policy(allowAll, deny({ AWS: ACCOUNT }, '*')), ROOT, ACCOUNT));
  // A Deny for someone else, or for another action, does not matter.
  assert.equal(lockoutRisk(policy(allowAll, deny({ AWS: BOB })), ALICE, ACCOUNT), undefined);
  assert.equal(lockoutRisk(policy(allowAll, deny({ AWS: ALICE }, 'kms:ScheduleKeyDeletion')), ALICE, ACCOUNT), undefined);
  // Deny + NotPrincipal applies to everyone not listed.
  const notPrincipal = { Effect: 'Deny', NotPrincipal: { AWS: [BOB] }, Action: 'kms:*', Resource: '*' };
  assert.ok(lockoutRisk(policy(allowAll, notPrincipal), ALICE, ACCOUNT));
  assert.equal(lockoutRisk(policy(allowAll, { ...notPrincipal, NotPrincipal: { AWS: [ACCOUNT, ALICE] } }), ALICE, ACCOUNT), undefined);
});

test('conditions on the only Allow, or on a matching Deny, are a "may lock you out" risk', () => {
  const condition = { Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } };
  assert.match(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:*', condition)), ALICE, ACCOUNT) ?? '', /Only statements with conditions allow you/);
  // An unconditional Allow beside it keeps control.
  assert.equal(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:*', condition), allow({ AWS: ROOT })), ALICE, ACCOUNT), undefined);
  // An empty Condition is no condition.
  assert.equal(lockoutRisk(policy(allow({ AWS: ALICE }, 'kms:*', { Condition: {} })), ALICE, ACCOUNT), undefined);
  assert.match(lockoutRisk(policy(allow({ AWS: ROOT }), deny({ AWS: ALICE }, 'kms:*', condition)), ALICE, ACCOUNT) ?? '', /under a condition/);
});

test('text that is not a policy gives no lockout answer (the shape check reports it)', () => {
  assert.equal(lockoutRisk('{ not json', ALICE, ACCOUNT), undefined);
  assert.equal(lockoutRisk('[]', ALICE, ACCOUNT), undefined);
  // A single statement object instead of an array is still read.
  assert.equal(lockoutRisk(JSON.stringify({ Version: '2012-10-17', Statement: allow({ AWS: ALICE }) }), ALICE, ACCOUNT), undefined);
});

test('wildcards: * and ? without a RegExp, no catastrophic backtracking', () => {
  assert.ok(wildcardMatch('kms:*', 'kms:putkeypolicy'));
  assert.ok(wildcardMatch('*policy', 'kms:putkeypolicy'));
  assert.ok(!wildcardMatch('kms:put', 'kms:putkeypolicy'));
  assert.ok(!wildcardMatch(`${'*a'.repeat(30)}b`, 'a'.repeat(5000)));
});
