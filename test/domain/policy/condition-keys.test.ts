// The KMS request context: which condition keys a request carries, and case-insensitive lookup.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConditionContext, kmsConditionKeys, principalArnKey } from '../../../src/domain/policy/index.js';
import { ACCOUNT, ADMIN_SESSION, APP_SESSION, BOB, LOGS, ROOT } from './support.js';

const NOW = new Date('2024-06-01T12:00:00.123Z');

test('a full Encrypt request context', () => {
  const keys = kmsConditionKeys({
    principal: BOB,
    now: NOW,
    sourceIp: '203.0.113.9',
    secureTransport: true,
    encryptionContext: { Department: 'IT', Project: 'Alpha' },
    key: { keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', origin: 'AWS_CLOUDHSM', multiRegion: false, aliases: ['alias/app'], tags: { env: 'prod' } },
    requestAlias: 'alias/app',
    viaService: 'ec2.us-east-1.amazonaws.com',
    encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
  });
  assert.deepEqual(Object.fromEntries(keys), {
    'aws:PrincipalArn': BOB.arn,
    'aws:PrincipalAccount': ACCOUNT,
    'aws:PrincipalType': 'User',
    'kms:CallerAccount': ACCOUNT,
    'aws:username': 'bob',
    'aws:CurrentTime': '2024-06-01T12:00:00Z',
    'aws:EpochTime': 1717243200,
    'aws:SourceIp': '203.0.113.9',
    'aws:SecureTransport': true,
    'kms:EncryptionContext:Department': 'IT',
    'kms:EncryptionContext:Project': 'Alpha',
    'kms:EncryptionContextKeys': ['Department', 'Project'],
    'kms:KeySpec': 'SYMMETRIC_DEFAULT',
    'kms:CustomerMasterKeySpec': 'SYMMETRIC_DEFAULT',
    'kms:KeyUsage': 'ENCRYPT_DECRYPT',
    'kms:CustomerMasterKeyUsage': 'ENCRYPT_DECRYPT',
    'kms:KeyOrigin': 'AWS_CLOUDHSM',
    'kms:MultiRegion': false,
    'kms:ResourceAliases': ['alias/app'],
    'aws:ResourceTag/env': 'prod',
    'kms:RequestAlias': 'alias/app',
    'kms:ViaService': 'ec2.us-east-1.amazonaws.com',
    'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
  });
});

test('grant and tagging requests', () => {
  const keys = Object.fromEntries(
    kmsConditionKeys({ principal: ROOT, now: NOW, grantOperations: ['Decrypt', 'Encrypt'], grantIsForAwsResource: true, requestTags: { a: '1', B: '2' }, granteePrincipal: BOB.arn }),
  );
  assert.deepEqual(keys['kms:GrantOperations'], ['Decrypt', 'Encrypt']);
  assert.equal(keys['kms:GrantIsForAWSResource'], true);
  assert.deepEqual(keys['aws:TagKeys'], ['a', 'B']);
  assert.equal(keys['aws:RequestTag/B'], '2');
  assert.equal(keys['kms:GranteePrincipal'], BOB.arn);
  assert.equal(keys['aws:PrincipalType'], 'Account');
  assert.equal(keys['aws:username'], undefined, 'only IAM users have aws:username');
});

test('absent things stay absent (so IfExists, Null and ForAllValues see "no key")', () => {
  const keys = Object.fromEntries(kmsConditionKeys({ principal: APP_SESSION, now: NOW, encryptionContext: {}, requestTags: {}, grantOperations: [] }));
  for (const name of ['kms:EncryptionContextKeys', 'aws:TagKeys', 'kms:GrantOperations', 'kms:ViaService', 'aws:SourceIp', 'aws:SecureTransport', 'kms:KeySpec', 'aws:username']) {
    assert.ok(!(name in keys), name);
  }
});

test('aws:PrincipalArn is the role ARN for a role session; service principals have no account keys', () => {
  assert.equal(principalArnKey(APP_SESSION), `arn:aws:iam::${ACCOUNT}:role/App`);
  assert.equal(principalArnKey(ADMIN_SESSION), `arn:aws:iam::${ACCOUNT}:role/admins/KMSAdmin`);
  assert.equal(principalArnKey(BOB), BOB.arn);
  const roleItself = { arn: `arn:aws:iam::${ACCOUNT}:role/App`, accountId: ACCOUNT, type: 'AssumedRole' } as const;
  assert.equal(principalArnKey(roleItself), roleItself.arn);
  const service = Object.fromEntries(kmsConditionKeys({ principal: LOGS, now: NOW }));
  assert.equal(service['kms:CallerAccount'], undefined);
  assert.equal(service['aws:PrincipalServiceName'], LOGS.arn);
});

test('ConditionContext: names ignore case; context keys differing only by case keep both values', () => {
  const context = new ConditionContext(kmsConditionKeys({ principal: BOB, now: NOW, encryptionContext: { AppName: 'a', appname: 'b' } }));
  assert.deepEqual(context.get('KMS:ENCRYPTIONCONTEXT:APPNAME'), ['a', 'b']);
  assert.equal(context.get('Aws:UserName'), 'bob');
  assert.equal(context.get('aws:nothing'), undefined);
  const fromRecord = new ConditionContext({ 'aws:SourceIp': '10.0.0.1', 'aws:Skipped': undefined });
  assert.equal(fromRecord.get('AWS:SOURCEIP'), '10.0.0.1');
  assert.equal(fromRecord.get('aws:Skipped'), undefined);
});
