// The KMS decision: key policy + identity policies, same-account and cross-account, explicit
// denies, grants, and AWS's AccessDeniedException wording. Key policies are the examples from the
// KMS developer guide (default policy, key administrators, key users, encryption-context and
// ViaService conditions, kms:GrantIsForAWSResource, NotPrincipal denies, cross-account access).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KmsError } from '../../../src/domain/errors.js';
import { defaultKeyPolicy, parseKeyPolicy } from '../../../src/domain/key-policy.js';
import type { ContextValue, Decision, DecisionReason, PolicyDocument, RequestPrincipal } from '../../../src/domain/policy/index.js';
import { accessDeniedError, accessDeniedMessage, allowByGrant, authorize, authorizeIdentityOnly, kmsConditionKeys } from '../../../src/domain/policy/index.js';
import {
  ACCOUNT, ADMIN_SESSION, ALICE, APP_SESSION, BOB, EXT_ROLE, EXT_ROOT, EXT_USER, KEY_ARN, LOGS, OTHER, ROOT,
  identityPolicy, keyPolicy, request,
} from './support.js';

interface Row {
  readonly name: string;
  readonly key: PolicyDocument;
  readonly identity?: readonly PolicyDocument[];
  readonly principal: RequestPrincipal;
  readonly action?: string;
  readonly keys?: Record<string, ContextValue | undefined>;
  readonly resource?: string;
  readonly expect: readonly [Decision, DecisionReason];
  readonly sid?: string;
}

function runRows(rows: readonly Row[]): void {
  for (const row of rows) {
    const result = authorize({
      request: { ...request(row.principal, row.action ?? 'kms:Encrypt', row.keys ?? {}, row.resource ?? KEY_ARN), resourceAccount: ACCOUNT },
      keyPolicy: row.key,
      identityPolicies: row.identity ?? [],
    });
    assert.deepEqual([result.decision, result.reason], row.expect, row.name);
    if (row.sid !== undefined) assert.equal(result.matchedStatement?.sid, row.sid, `${row.name}: matched statement`);
  }
}

const ROOT_ARN = `arn:aws:iam::${ACCOUNT}:root`;
const APP = `arn:aws:iam::${ACCOUNT}:role/App`;
const DEFAULT = parseKeyPolicy(defaultKeyPolicy({ partition: 'aws', region: 'us-east-1', accountId: ACCOUNT }));
const allowEncrypt = identityPolicy({ Sid: 'UseKey', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: KEY_ARN });
const allowAllKms = identityPolicy({ Sid: 'AllKms', Effect: 'Allow', Action: 'kms:*', Resource: '*' });
const allowDecryptOnly = identityPolicy({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' });
const allowOtherKey = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/another` });
const denyEncrypt = identityPolicy({ Sid: 'NoEncrypt', Effect: 'Deny', Action: 'kms:Encrypt', Resource: '*' });

test('the default key policy delegates everything to IAM policies (and lets the root user in)', () => {
  runRows([
    { name: 'user with an IAM allow', key: DEFAULT, identity: [allowEncrypt], principal: BOB, expect: ['Allow', 'allowed-by-identity-policy'], sid: 'UseKey' },
    { name: 'user with kms:* on *', key: DEFAULT, identity: [allowAllKms], principal: BOB, action: 'kms:ScheduleKeyDeletion', expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'user without IAM policies', key: DEFAULT, principal: BOB, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'IAM allows another action only', key: DEFAULT, identity: [allowDecryptOnly], principal: BOB, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'IAM allows another key only', key: DEFAULT, identity: [allowOtherKey], principal: BOB, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'role session with an IAM allow', key: DEFAULT, identity: [allowEncrypt], principal: APP_SESSION, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'root user needs no IAM policy', key: DEFAULT, principal: ROOT, action: 'kms:PutKeyPolicy', expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'IAM deny beats the IAM allow', key: DEFAULT, identity: [allowAllKms, denyEncrypt], principal: BOB, expect: ['ExplicitDeny', 'explicit-deny-in-identity-policy'], sid: 'NoEncrypt' },
    { name: 'another account, even with an IAM allow', key: DEFAULT, identity: [allowAllKms], principal: EXT_USER, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'another account root', key: DEFAULT, principal: EXT_ROOT, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'a service principal is not the account', key: DEFAULT, principal: LOGS, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
  ]);
});

// The console's key policy for a key with administrators and users, without the root statement:
// only the named principals get in, and IAM policies do not count.
const CONSOLE = keyPolicy(
  {
    Sid: 'Allow access for Key Administrators',
    Effect: 'Allow',
    Principal: { AWS: [`arn:aws:iam::${ACCOUNT}:role/admins/KMSAdmin`, `arn:aws:iam::${ACCOUNT}:user/alice`] },
    Action: ['kms:Create*', 'kms:Describe*', 'kms:Enable*', 'kms:List*', 'kms:Put*', 'kms:Update*', 'kms:Revoke*', 'kms:Disable*', 'kms:Get*', 'kms:Delete*', 'kms:TagResource', 'kms:UntagResource', 'kms:ScheduleKeyDeletion', 'kms:CancelKeyDeletion'],
    Resource: '*',
  },
  {
    Sid: 'Allow use of the key',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/App` },
    Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
    Resource: '*',
  },
  {
    Sid: 'Allow attachment of persistent resources',
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/App` },
    Action: ['kms:CreateGrant', 'kms:ListGrants', 'kms:RevokeGrant'],
    Resource: '*',
    Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
  },
);

test('key administrators and key users are named directly: no IAM policy needed, none counts', () => {
  runRows([
    { name: 'admin role session (role ARN with path)', key: CONSOLE, principal: ADMIN_SESSION, action: 'kms:PutKeyPolicy', expect: ['Allow', 'allowed-by-key-policy'], sid: 'Allow access for Key Administrators' },
    { name: 'admin user', key: CONSOLE, principal: ALICE, action: 'kms:DisableKey', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'admin wildcard action', key: CONSOLE, principal: ALICE, action: 'kms:GetKeyRotationStatus', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'admins cannot use the key', key: CONSOLE, principal: ADMIN_SESSION, action: 'kms:Encrypt', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'admins cannot use it even with an IAM allow', key: CONSOLE, identity: [allowAllKms], principal: ALICE, action: 'kms:Decrypt', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'keybridge role calling as itself (role ARN, no session)', key: CONSOLE, principal: { arn: APP, accountId: ACCOUNT, type: 'AssumedRole' }, expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'keybridge role with a path calling as itself', key: CONSOLE, principal: { arn: `arn:aws:iam::${ACCOUNT}:role/admins/KMSAdmin`, accountId: ACCOUNT, type: 'AssumedRole' }, action: 'kms:PutKeyPolicy', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'keybridge role of another name', key: CONSOLE, principal: { arn: `arn:aws:iam::${ACCOUNT}:role/Other`, accountId: ACCOUNT, type: 'AssumedRole' }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'key user session encrypts', key: CONSOLE, principal: APP_SESSION, expect: ['Allow', 'allowed-by-key-policy'], sid: 'Allow use of the key' },
    { name: 'key user GenerateDataKeyWithoutPlaintext', key: CONSOLE, principal: APP_SESSION, action: 'kms:GenerateDataKeyWithoutPlaintext', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'key user cannot schedule deletion', key: CONSOLE, principal: APP_SESSION, action: 'kms:ScheduleKeyDeletion', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'another user in the account', key: CONSOLE, identity: [allowAllKms], principal: BOB, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'root user is locked out without a root statement', key: CONSOLE, principal: ROOT, action: 'kms:PutKeyPolicy', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'grant for an AWS resource', key: CONSOLE, principal: APP_SESSION, action: 'kms:CreateGrant', keys: { 'kms:GrantIsForAWSResource': true }, expect: ['Allow', 'allowed-by-key-policy'], sid: 'Allow attachment of persistent resources' },
    { name: 'grant not for an AWS resource', key: CONSOLE, principal: APP_SESSION, action: 'kms:CreateGrant', keys: { 'kms:GrantIsForAWSResource': false }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'grant with the key absent', key: CONSOLE, principal: APP_SESSION, action: 'kms:CreateGrant', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'role of the same name in another account', key: CONSOLE, principal: { ...EXT_ROLE, arn: `arn:aws:sts::${OTHER}:assumed-role/App/x` }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'session of a role whose full ARN differs (path)', key: CONSOLE, principal: { ...ADMIN_SESSION, roleArn: `arn:aws:iam::${ACCOUNT}:role/other/KMSAdmin` }, action: 'kms:PutKeyPolicy', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
  ]);
});

test('encryption-context conditions (KMS developer guide examples)', () => {
  const requireApp = keyPolicy({ Sid: 'RequireApp', Effect: 'Allow', Principal: { AWS: APP }, Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' } } });
  const onlyApp = keyPolicy({
    Effect: 'Allow', Principal: { AWS: APP }, Action: 'kms:GenerateDataKey', Resource: '*',
    Condition: { StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' }, 'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['AppName'] } },
  });
  const twoPairs = keyPolicy({
    Effect: 'Allow', Principal: { AWS: APP }, Action: 'kms:Decrypt', Resource: '*',
    Condition: { StringEquals: { 'kms:EncryptionContext:Department': 'IT', 'kms:EncryptionContext:Project': 'Alpha' } },
  });
  const caseSensitiveKey = keyPolicy({
    Effect: 'Allow', Principal: { AWS: APP }, Action: 'kms:GenerateDataKey', Resource: '*',
    Condition: { 'ForAnyValue:StringEquals': { 'kms:EncryptionContextKeys': 'AppName' }, StringEquals: { 'kms:EncryptionContext:AppName': 'ExampleApp' } },
  });
  const denyStage = keyPolicy(
    { Effect: 'Allow', Principal: { AWS: APP }, Action: 'kms:GenerateDataKey', Resource: '*' },
    { Sid: 'NoRestricted', Effect: 'Deny', Principal: { AWS: APP }, Action: 'kms:GenerateDataKey', Resource: '*', Condition: { StringEquals: { 'kms:EncryptionContext:Stage': ['Restricted', 'Production'] } } },
  );
  const ec = (context: Record<string, string> | undefined): Record<string, ContextValue> =>
    Object.fromEntries(kmsConditionKeys({ principal: APP_SESSION, now: new Date(0), ...(context ? { encryptionContext: context } : {}) }));
  const gdk = 'kms:GenerateDataKey';
  runRows([
    { name: 'required pair present', key: requireApp, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'ExampleApp' }), expect: ['Allow', 'allowed-by-key-policy'], sid: 'RequireApp' },
    { name: 'required pair plus others', key: requireApp, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'ExampleApp', Other: 'x' }), expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'context key name case is ignored', key: requireApp, principal: APP_SESSION, action: gdk, keys: ec({ appname: 'ExampleApp' }), expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'context value case is not', key: requireApp, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'exampleapp' }), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'no encryption context', key: requireApp, principal: APP_SESSION, action: gdk, keys: ec(undefined), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'only AppName: exact', key: onlyApp, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'ExampleApp' }), expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'only AppName: an extra pair', key: onlyApp, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'ExampleApp', Stage: 'Test' }), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'only AppName: no context (ForAllValues true, pair condition false)', key: onlyApp, principal: APP_SESSION, action: gdk, keys: ec(undefined), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'two pairs both present', key: twoPairs, principal: APP_SESSION, action: 'kms:Decrypt', keys: ec({ Department: 'IT', Project: 'Alpha' }), expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'two pairs, one missing', key: twoPairs, principal: APP_SESSION, action: 'kms:Decrypt', keys: ec({ Department: 'IT' }), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'case-sensitive key via EncryptionContextKeys', key: caseSensitiveKey, principal: APP_SESSION, action: gdk, keys: ec({ AppName: 'ExampleApp' }), expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'case-sensitive key: wrong case refused', key: caseSensitiveKey, principal: APP_SESSION, action: gdk, keys: ec({ appname: 'ExampleApp' }), expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'deny Stage=Restricted', key: denyStage, principal: APP_SESSION, action: gdk, keys: ec({ Stage: 'Restricted' }), expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'NoRestricted' },
    { name: 'deny Stage=Production (values OR)', key: denyStage, principal: APP_SESSION, action: gdk, keys: ec({ Stage: 'Production' }), expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'Stage=Test is not denied', key: denyStage, principal: APP_SESSION, action: gdk, keys: ec({ Stage: 'Test' }), expect: ['Allow', 'allowed-by-key-policy'] },
  ]);
});

test('kms:ViaService, kms:CallerAccount and "*" principals (AWS managed key policy)', () => {
  const managed = keyPolicy({
    Sid: 'Allow access through EBS for all principals in the account that are authorized to use EBS',
    Effect: 'Allow',
    Principal: { AWS: '*' },
    Condition: { StringEquals: { 'kms:CallerAccount': ACCOUNT, 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' } },
    Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
    Resource: '*',
  });
  const viaIfExists = keyPolicy(
    { Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' },
    { Sid: 'OnlyThroughS3', Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringNotEqualsIfExists: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
  );
  const through = { 'kms:CallerAccount': ACCOUNT, 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' };
  runRows([
    { name: 'through EBS, same account: no IAM policy needed', key: managed, principal: BOB, keys: through, expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'not through EBS', key: managed, principal: BOB, keys: { 'kms:CallerAccount': ACCOUNT }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'another account through EBS', key: managed, identity: [allowAllKms], principal: EXT_USER, keys: { 'kms:CallerAccount': OTHER, 'kms:ViaService': 'ec2.us-east-1.amazonaws.com' }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    // IAM guide: "If you are using an "Effect": "Deny" element with a negated condition operator
    // like StringNotEqualsIfExists, the request is still denied even if the tag is missing."
    { name: 'Deny StringNotEqualsIfExists: a direct call (key absent) is still denied', key: viaIfExists, identity: [allowAllKms], principal: BOB, action: 'kms:Decrypt', expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'OnlyThroughS3' },
    { name: 'Deny StringNotEqualsIfExists: through S3', key: viaIfExists, identity: [allowAllKms], principal: BOB, action: 'kms:Decrypt', keys: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' }, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'Deny StringNotEqualsIfExists: through another service', key: viaIfExists, identity: [allowAllKms], principal: BOB, action: 'kms:Decrypt', keys: { 'kms:ViaService': 'sqs.us-east-1.amazonaws.com' }, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'OnlyThroughS3' },
  ]);
});

test('Deny with NotPrincipal: every link of the caller (account, role, session) must be listed to be exempt', () => {
  const breakGlass = (exempt: readonly string[]): PolicyDocument =>
    keyPolicy(
      { Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' },
      { Sid: 'OnlyBreakGlassDeletes', Effect: 'Deny', NotPrincipal: { AWS: exempt }, Action: ['kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy'], Resource: '*' },
    );
  const glassRole = `arn:aws:iam::${ACCOUNT}:role/BreakGlass`;
  const glassSession: RequestPrincipal = { arn: `arn:aws:sts::${ACCOUNT}:assumed-role/BreakGlass/oncall`, accountId: ACCOUNT, type: 'AssumedRole' };
  const all = breakGlass([ROOT_ARN, glassRole, glassSession.arn]);
  const noSession = breakGlass([ROOT_ARN, glassRole]);
  const sd = 'kms:ScheduleKeyDeletion';
  runRows([
    { name: 'listed session is exempt', key: all, identity: [allowAllKms], principal: glassSession, action: sd, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'other sessions of the account are denied', key: all, identity: [allowAllKms], principal: APP_SESSION, action: sd, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'OnlyBreakGlassDeletes' },
    { name: 'a user is denied', key: all, identity: [allowAllKms], principal: BOB, action: sd, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'role listed but not its session: still denied', key: noSession, identity: [allowAllKms], principal: glassSession, action: sd, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'root listed: root exempt', key: noSession, principal: ROOT, action: sd, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'account not listed: even the session is denied', key: breakGlass([glassRole, glassSession.arn]), identity: [allowAllKms], principal: glassSession, action: sd, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'keybridge role as itself: account + role listed is exempt', key: noSession, identity: [allowAllKms], principal: { arn: glassRole, accountId: ACCOUNT, type: 'AssumedRole' }, action: sd, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'user listed with the account is exempt', key: breakGlass([ACCOUNT, BOB.arn]), identity: [allowAllKms], principal: BOB, action: sd, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'other actions are untouched', key: all, identity: [allowAllKms], principal: BOB, action: 'kms:Encrypt', expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'NotPrincipal "*" never applies', key: keyPolicy({ Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' }, { Effect: 'Deny', NotPrincipal: '*', Action: 'kms:*', Resource: '*' }), principal: ROOT, expect: ['Allow', 'allowed-by-identity-policy'] },
  ]);
});

test('cross-account: the key policy AND the caller\'s identity policies must allow', () => {
  const delegate = keyPolicy(
    { Effect: 'Allow', Principal: { AWS: ROOT_ARN }, Action: 'kms:*', Resource: '*' },
    { Sid: 'External', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:root` }, Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey'], Resource: '*' },
  );
  const byId = keyPolicy({ Sid: 'ExternalById', Effect: 'Allow', Principal: { AWS: OTHER }, Action: 'kms:Decrypt', Resource: '*' });
  const direct = keyPolicy({ Sid: 'PartnerRole', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${OTHER}:role/Partner` }, Action: 'kms:Decrypt', Resource: '*' });
  const extIdentity = identityPolicy({ Sid: 'UseTheirKey', Effect: 'Allow', Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: KEY_ARN });
  runRows([
    { name: 'external user with an IAM allow', key: delegate, identity: [extIdentity], principal: EXT_USER, expect: ['Allow', 'allowed-by-identity-policy'], sid: 'UseTheirKey' },
    { name: 'external user without an IAM allow', key: delegate, principal: EXT_USER, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'external action not in the key policy', key: delegate, identity: [allowAllKms], principal: EXT_USER, action: 'kms:ScheduleKeyDeletion', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'external root needs no IAM policy', key: delegate, principal: EXT_ROOT, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'account given as a bare id', key: byId, identity: [extIdentity], principal: EXT_ROLE, action: 'kms:Decrypt', expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'external role named directly still needs its IAM allow', key: direct, principal: EXT_ROLE, action: 'kms:Decrypt', expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'external role named directly with its IAM allow', key: direct, identity: [extIdentity], principal: EXT_ROLE, action: 'kms:Decrypt', expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'external IAM deny', key: delegate, identity: [extIdentity, denyEncrypt], principal: EXT_USER, expect: ['ExplicitDeny', 'explicit-deny-in-identity-policy'] },
    { name: 'a third account is not let in', key: delegate, identity: [allowAllKms], principal: { arn: 'arn:aws:iam::777788889999:user/eve', accountId: '777788889999', type: 'IAMUser' }, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'IAM policy for another key in the account', key: delegate, identity: [allowOtherKey], principal: EXT_USER, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
  ]);
});

test('explicit denies win over every allow; key-policy denies are reported first', () => {
  const keyDeny = keyPolicy(
    { Effect: 'Allow', Principal: { AWS: BOB.arn }, Action: 'kms:*', Resource: '*' },
    { Sid: 'TLSOnly', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    { Sid: 'OrgOnly', Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*', Condition: { StringNotEquals: { 'aws:PrincipalOrgID': 'o-abc123' } } },
  );
  const inOrg = { 'aws:PrincipalOrgID': 'o-abc123', 'aws:SecureTransport': true };
  runRows([
    { name: 'direct allow, no deny applies', key: keyDeny, principal: BOB, keys: inOrg, expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'plain HTTP', key: keyDeny, principal: BOB, keys: { ...inOrg, 'aws:SecureTransport': false }, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'TLSOnly' },
    { name: 'outside the org', key: keyDeny, principal: BOB, keys: { 'aws:SecureTransport': true, 'aws:PrincipalOrgID': 'o-other' }, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'], sid: 'OrgOnly' },
    { name: 'org id absent: StringNotEquals is true, denied', key: keyDeny, principal: BOB, keys: { 'aws:SecureTransport': true }, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'IAM deny beats a direct key-policy allow', key: keyDeny, identity: [denyEncrypt], principal: BOB, keys: inOrg, expect: ['ExplicitDeny', 'explicit-deny-in-identity-policy'] },
    { name: 'both deny: the key policy is reported', key: keyDeny, identity: [denyEncrypt], principal: BOB, keys: { ...inOrg, 'aws:SecureTransport': false }, expect: ['ExplicitDeny', 'explicit-deny-in-key-policy'] },
    { name: 'IAM deny on another action does not apply', key: keyDeny, identity: [denyEncrypt], principal: BOB, action: 'kms:Decrypt', keys: inOrg, expect: ['Allow', 'allowed-by-key-policy'] },
  ]);
});

test('service principals, action and resource matching', () => {
  const logs = keyPolicy(
    { Sid: 'Logs', Effect: 'Allow', Principal: { Service: 'logs.us-east-1.amazonaws.com' }, Action: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'], Resource: '*' },
  );
  const caseAction = keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB.arn }, Action: 'KMS:encrypt', Resource: '*' });
  const notAction = keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB.arn }, NotAction: ['kms:Schedule*', 'kms:Put*'], Resource: '*' });
  const thisKey = keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB.arn }, Action: 'kms:*', Resource: KEY_ARN });
  const otherKey = keyPolicy({ Effect: 'Allow', Principal: { AWS: BOB.arn }, Action: 'kms:*', Resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/other` });
  const wildKey = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: `arn:aws:kms:*:${ACCOUNT}:key/*` });
  const aliasOnly = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: `arn:aws:kms:*:${ACCOUNT}:alias/*` });
  const notResource = identityPolicy({ Effect: 'Allow', Action: 'kms:*', NotResource: `arn:aws:kms:*:${ACCOUNT}:key/secret-*` });
  runRows([
    { name: 'service principal', key: logs, principal: LOGS, action: 'kms:GenerateDataKey', expect: ['Allow', 'allowed-by-key-policy'], sid: 'Logs' },
    { name: 'service principal names are case-insensitive', key: logs, principal: { ...LOGS, arn: 'LOGS.us-east-1.amazonaws.com' }, action: 'kms:Decrypt', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'another service', key: logs, principal: { ...LOGS, arn: 'sns.amazonaws.com' }, action: 'kms:Decrypt', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'a user is not the service', key: logs, principal: BOB, action: 'kms:Decrypt', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'service action outside the list', key: logs, principal: LOGS, action: 'kms:ScheduleKeyDeletion', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'action names ignore case', key: caseAction, principal: BOB, expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'action prefix is not a match', key: caseAction, principal: BOB, action: 'kms:EncryptX', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'NotAction lets other actions through', key: notAction, principal: BOB, action: 'kms:Decrypt', expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'NotAction excludes the listed', key: notAction, principal: BOB, action: 'kms:PutKeyPolicy', expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'Resource naming this key', key: thisKey, principal: BOB, expect: ['Allow', 'allowed-by-key-policy'] },
    { name: 'Resource naming another key', key: otherKey, principal: BOB, expect: ['ImplicitDeny', 'no-resource-policy-allows'] },
    { name: 'IAM Resource wildcard over keys', key: DEFAULT, identity: [wildKey], principal: BOB, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'IAM Resource over aliases only', key: DEFAULT, identity: [aliasOnly], principal: BOB, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'IAM NotResource not covering the key', key: DEFAULT, identity: [notResource], principal: BOB, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'IAM NotResource covering the key', key: DEFAULT, identity: [notResource], principal: BOB, resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/secret-1`, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
  ]);
});

test('policy variables in an identity policy Resource', () => {
  const own = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: `arn:aws:kms:*:${ACCOUNT}:key/\${aws:username}-*` });
  const keys = (p: RequestPrincipal): Record<string, ContextValue> => Object.fromEntries(kmsConditionKeys({ principal: p, now: new Date(0) }));
  runRows([
    { name: 'own key', key: DEFAULT, identity: [own], principal: BOB, keys: keys(BOB), resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/bob-1`, expect: ['Allow', 'allowed-by-identity-policy'] },
    { name: 'someone else\'s key', key: DEFAULT, identity: [own], principal: ALICE, keys: keys(ALICE), resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/bob-1`, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
    { name: 'no aws:username (role session)', key: DEFAULT, identity: [own], principal: APP_SESSION, keys: keys(APP_SESSION), resource: `arn:aws:kms:us-east-1:${ACCOUNT}:key/-1`, expect: ['ImplicitDeny', 'no-identity-policy-allows'] },
  ]);
});

test('identity-only operations (CreateKey, ListKeys, GenerateRandom)', () => {
  const create = identityPolicy({ Sid: 'Create', Effect: 'Allow', Action: ['kms:CreateKey', 'kms:List*'], Resource: '*', Condition: { StringEquals: { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' } } });
  const scoped = identityPolicy({ Effect: 'Allow', Action: 'kms:*', Resource: `arn:aws:kms:*:${ACCOUNT}:key/*` });
  const rows: ReadonlyArray<readonly [string, RequestPrincipal, readonly PolicyDocument[], string, Record<string, ContextValue>, Decision, DecisionReason]> = [
    ['allowed with the condition', BOB, [create], 'kms:CreateKey', { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' }, 'Allow', 'allowed-by-identity-policy'],
    ['condition fails', BOB, [create], 'kms:CreateKey', { 'kms:KeySpec': 'RSA_2048' }, 'ImplicitDeny', 'no-identity-policy-allows'],
    ['a key-scoped Resource does not cover CreateKey', BOB, [scoped], 'kms:CreateKey', {}, 'ImplicitDeny', 'no-identity-policy-allows'],
    ['root user', ROOT, [], 'kms:CreateKey', {}, 'Allow', 'allowed-by-identity-policy'],
    ['denied', BOB, [create, identityPolicy({ Effect: 'Deny', Action: 'kms:CreateKey', Resource: '*' })], 'kms:CreateKey', { 'kms:KeySpec': 'SYMMETRIC_DEFAULT' }, 'ExplicitDeny', 'explicit-deny-in-identity-policy'],
    ['no policies', BOB, [], 'kms:ListKeys', {}, 'ImplicitDeny', 'no-identity-policy-allows'],
  ];
  for (const [name, principal, policies, action, keys, decision, reason] of rows) {
    const result = authorizeIdentityOnly(request(principal, action, keys, null), policies);
    assert.deepEqual([result.decision, result.reason], [decision, reason], name);
  }
});

test('grants turn an implicit deny into an allow, never an explicit deny', () => {
  const implicit = authorize({ request: request(BOB), keyPolicy: DEFAULT, identityPolicies: [] });
  assert.equal(implicit.decision, 'ImplicitDeny');
  assert.deepEqual(allowByGrant(implicit, true), { decision: 'Allow', reason: 'allowed-by-grant' });
  assert.equal(allowByGrant(implicit, false), implicit);
  const explicit = authorize({ request: request(BOB), keyPolicy: DEFAULT, identityPolicies: [allowAllKms, denyEncrypt] });
  assert.equal(allowByGrant(explicit, true).decision, 'ExplicitDeny');
  const allowed = authorize({ request: request(BOB), keyPolicy: DEFAULT, identityPolicies: [allowAllKms] });
  assert.equal(allowByGrant(allowed, true), allowed);
});

test('AccessDeniedException messages use AWS\'s wording', () => {
  const rows: ReadonlyArray<readonly [string, RequestPrincipal, PolicyDocument, readonly PolicyDocument[], string, string]> = [
    ['no resource-based policy', EXT_USER, DEFAULT, [], 'kms:Encrypt', `User: arn:aws:iam::${OTHER}:user/dave is not authorized to perform: kms:Encrypt on resource: ${KEY_ARN} because no resource-based policy allows the kms:Encrypt action`],
    ['no identity-based policy', BOB, DEFAULT, [], 'kms:Decrypt', `User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: kms:Decrypt on resource: ${KEY_ARN} because no identity-based policy allows the kms:Decrypt action`],
    ['explicit deny in the identity policy', BOB, DEFAULT, [allowAllKms, denyEncrypt], 'kms:Encrypt', `User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: kms:Encrypt on resource: ${KEY_ARN} with an explicit deny in an identity-based policy`],
    [
      'explicit deny in the key policy',
      APP_SESSION,
      keyPolicy({ Effect: 'Deny', Principal: '*', Action: 'kms:Decrypt', Resource: '*' }),
      [],
      'kms:Decrypt',
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/App/i-0123 is not authorized to perform: kms:Decrypt on resource: ${KEY_ARN} with an explicit deny in a resource-based policy`,
    ],
  ];
  for (const [name, principal, key, identity, action, message] of rows) {
    const req = request(principal, action);
    const result = authorize({ request: req, keyPolicy: key, identityPolicies: identity });
    assert.equal(accessDeniedMessage(req, result), message, name);
    const error = accessDeniedError(req, result);
    assert.ok(error instanceof KmsError);
    assert.equal(error.kmsName, 'AccessDeniedException');
    assert.equal(error.message, message);
  }
  const noResource = request(BOB, 'kms:CreateKey', {}, null);
  assert.equal(
    accessDeniedMessage(noResource, authorizeIdentityOnly(noResource, [])),
    `User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: kms:CreateKey because no identity-based policy allows the kms:CreateKey action`,
  );
  assert.throws(() => accessDeniedMessage(request(ROOT), authorize({ request: request(ROOT), keyPolicy: DEFAULT, identityPolicies: [] })), TypeError);
});

test('policies of the wrong kind are a programming error', () => {
  assert.throws(() => authorize({ request: request(BOB), keyPolicy: allowAllKms, identityPolicies: [] }), TypeError);
  assert.throws(() => authorize({ request: request(BOB), keyPolicy: DEFAULT, identityPolicies: [DEFAULT] }), TypeError);
});
