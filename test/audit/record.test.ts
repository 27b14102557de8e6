// CloudTrail record shape, field by field against AWS's documented KMS examples (KMS Developer
// Guide ct-encrypt, ct-decrypt, ct-generatedatakey, ct-createkey, ct-delete-key; CloudTrail
// record contents, event version 1.11). Values the examples leave to the service (ids, times)
// are fed in so the whole record can be compared with deepEqual, key order included.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiCallInput } from '../../src/audit/event.js';
import { awsDateText } from '../../src/audit/parameters.js';
import { buildApiCallEvent, buildServiceEvent, derivePrincipalId, eventTime } from '../../src/audit/record.js';

const KEY_ARN = 'arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ALICE = { type: 'IAMUser' as const, principalId: 'EX_PRINCIPAL_ID', arn: 'arn:aws:iam::111122223333:user/Alice', accountId: '111122223333', accessKeyId: 'EXAMPLE_KEY_ID', userName: 'Alice' };

function call(over: Partial<ApiCallInput>): ApiCallInput {
  return {
    time: new Date('2025-05-20T20:46:16.789Z'),
    requestId: 'f3423043-63bc-11e4-bc2b-4198b6150d5c',
    region: 'us-east-1',
    account: '111122223333',
    principal: ALICE,
    sourceIp: '192.0.2.0',
    userAgent: 'AWS Internal',
    eventName: 'Encrypt',
    request: undefined,
    response: undefined,
    eventId: '91235988-eb87-476a-ac2c-0cdc244e6dca',
    ...over,
  };
}

const RESOURCE = [{ accountId: '111122223333', type: 'AWS::KMS::Key', ARN: KEY_ARN }];

describe('API call records', () => {
  test('Encrypt: ct-encrypt, plaintext and ciphertext left out, readOnly true, responseElements null', () => {
    const r = buildApiCallEvent(
      call({
        request: { KeyId: KEY_ARN, Plaintext: 'c2VjcmV0', EncryptionContext: { Department: 'Engineering' }, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
        response: { CiphertextBlob: 'AQID', KeyId: KEY_ARN, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
        key: { arn: KEY_ARN, accountId: '111122223333', backingKeyId: '123456789abcdef0' },
        tls: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', clientProvidedHostHeader: 'kms.us-east-1.amazonaws.com' },
      }),
    );
    assert.deepEqual(JSON.parse(JSON.stringify(r)), {
      eventVersion: '1.11',
      userIdentity: { type: 'IAMUser', principalId: 'EX_PRINCIPAL_ID', arn: 'arn:aws:iam::111122223333:user/Alice', accountId: '111122223333', accessKeyId: 'EXAMPLE_KEY_ID', userName: 'Alice' },
      eventTime: '2025-05-20T20:46:16Z',
      eventSource: 'kms.amazonaws.com',
      eventName: 'Encrypt',
      awsRegion: 'us-east-1',
      sourceIPAddress: '192.0.2.0',
      userAgent: 'AWS Internal',
      requestParameters: { keyId: KEY_ARN, encryptionContext: { Department: 'Engineering' }, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
      responseElements: null,
      additionalEventData: { keyMaterialId: '123456789abcdef0' },
      requestID: 'f3423043-63bc-11e4-bc2b-4198b6150d5c',
      eventID: '91235988-eb87-476a-ac2c-0cdc244e6dca',
      readOnly: true,
      resources: RESOURCE,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: '111122223333',
      eventCategory: 'Management',
      tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_256_GCM_SHA384', clientProvidedHostHeader: 'kms.us-east-1.amazonaws.com' },
    });
    assert.deepEqual(Object.keys(r).slice(0, 8), ['eventVersion', 'userIdentity', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'sourceIPAddress', 'userAgent']);
  });

  test('Decrypt: encryptionAlgorithm always logged, keyId filled from the ciphertext\'s key; CloudHSM key → additionalEventData.customKeyStoreId', () => {
    const r = buildApiCallEvent(
      call({
        eventName: 'Decrypt',
        request: { CiphertextBlob: 'AQIDBA==', EncryptionContext: { Department: 'Engineering', Project: 'Alpha' } },
        response: { Plaintext: 'c2VjcmV0', KeyId: KEY_ARN },
        key: { arn: KEY_ARN, accountId: '111122223333', customKeyStoreId: 'cks-1234567890abcdef0', backingKeyId: 'b1', clusterId: 'cluster-1a23b4cdefg' },
      }),
    );
    assert.deepEqual(r.requestParameters, {
      encryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      keyId: KEY_ARN,
      encryptionContext: { Department: 'Engineering', Project: 'Alpha' },
    });
    assert.equal(r.responseElements, null);
    assert.deepEqual(r.additionalEventData, { customKeyStoreId: 'cks-1234567890abcdef0' });
    assert.equal(r.readOnly, true);
    assert.deepEqual(r.resources, RESOURCE);
  });

  test('GenerateDataKey: ct-generatedatakey requestParameters {keyId, keySpec, encryptionContext}, no data key anywhere', () => {
    const r = buildApiCallEvent(
      call({
        eventName: 'GenerateDataKey',
        request: { KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab', KeySpec: 'AES_256', EncryptionContext: { Department: 'Engineering', Project: 'Alpha' } },
        response: { CiphertextBlob: 'AQID', Plaintext: 'ZGF0YWtleQ==', KeyId: KEY_ARN },
        key: { arn: KEY_ARN, accountId: '111122223333' },
      }),
    );
    assert.deepEqual(r.requestParameters, { keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', keySpec: 'AES_256', encryptionContext: { Department: 'Engineering', Project: 'Alpha' } });
    assert.equal(r.responseElements, null);
    assert.equal(r.readOnly, true);
    assert.equal(r.additionalEventData, undefined);
    assert.doesNotMatch(JSON.stringify(r), /ZGF0YWtleQ==|AQID/);
  });

  test('CreateKey: ct-createkey requestParameters and responseElements.keyMetadata in camelCase with AWS date text; CloudHSM backingKey', () => {
    const created = Date.UTC(2022, 7, 10, 22, 38, 27) / 1000;
    const r = buildApiCallEvent(
      call({
        eventName: 'CreateKey',
        request: { Description: '', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0', BypassPolicyLockoutSafetyCheck: false, Tags: [{ TagKey: 'team', TagValue: 'a' }] },
        response: {
          KeyMetadata: {
            AWSAccountId: '111122223333', KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab', Arn: KEY_ARN, CreationDate: created, Enabled: true, Description: '',
            KeyUsage: 'ENCRYPT_DECRYPT', KeyState: 'Enabled', Origin: 'AWS_CLOUDHSM', CustomKeyStoreId: 'cks-1234567890abcdef0', CloudHsmClusterId: 'cluster-1a23b4cdefg',
            KeyManager: 'CUSTOMER', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT', KeySpec: 'SYMMETRIC_DEFAULT', EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'], MultiRegion: false,
          },
        },
        key: { arn: KEY_ARN, accountId: '111122223333', customKeyStoreId: 'cks-1234567890abcdef0', backingKeyId: 'backing-key-id' },
      }),
    );
    assert.deepEqual(r.requestParameters, {
      description: '', keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'AWS_CLOUDHSM', customKeyStoreId: 'cks-1234567890abcdef0',
      bypassPolicyLockoutSafetyCheck: false, tags: [{ tagKey: 'team', tagValue: 'a' }],
    });
    assert.deepEqual(r.responseElements, {
      keyMetadata: {
        aWSAccountId: '111122223333', keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', arn: KEY_ARN, creationDate: 'Aug 10, 2022, 10:38:27 PM', enabled: true, description: '',
        keyUsage: 'ENCRYPT_DECRYPT', keyState: 'Enabled', origin: 'AWS_CLOUDHSM', customKeyStoreId: 'cks-1234567890abcdef0', cloudHsmClusterId: 'cluster-1a23b4cdefg',
        keyManager: 'CUSTOMER', customerMasterKeySpec: 'SYMMETRIC_DEFAULT', keySpec: 'SYMMETRIC_DEFAULT', encryptionAlgorithms: ['SYMMETRIC_DEFAULT'], multiRegion: false,
      },
    });
    assert.deepEqual(r.additionalEventData, { backingKey: '{"backingKeyId":"backing-key-id"}' });
    assert.equal(r.readOnly, false);
  });

  test('a failed call: errorCode/errorMessage after userAgent, responseElements null, requestParameters kept', () => {
    const r = buildApiCallEvent(
      call({
        eventName: 'Decrypt',
        request: { KeyId: KEY_ARN, CiphertextBlob: 'AQIDBA==' },
        response: undefined,
        error: { name: 'IncorrectKeyException', message: 'The key ID in the request does not identify a CMK that can perform this operation.' },
        key: { arn: KEY_ARN, accountId: '111122223333' },
      }),
    );
    assert.equal(r.errorCode, 'IncorrectKeyException');
    assert.equal(r.errorMessage, 'The key ID in the request does not identify a CMK that can perform this operation.');
    assert.deepEqual(Object.keys(r).slice(7, 11), ['userAgent', 'errorCode', 'errorMessage', 'requestParameters']);
    assert.equal(r.responseElements, null);
    assert.deepEqual(r.requestParameters, { keyId: KEY_ARN, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
  });

  test('an authentication failure: userIdentity carries only type Unknown and the claimed access key id', () => {
    const r = buildApiCallEvent(
      call({
        principal: undefined,
        claimedAccessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        eventName: 'Encrypt',
        request: { KeyId: 'alias/x', Plaintext: 'c2VjcmV0' },
        error: { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' },
      }),
    );
    assert.deepEqual(r.userIdentity, { type: 'Unknown', accessKeyId: 'AKIAIOSFODNN7EXAMPLE' });
    assert.equal(r.resources, undefined);
    assert.equal(r.errorCode, 'UnrecognizedClientException');
    assert.deepEqual(buildApiCallEvent(call({ principal: undefined, error: { name: 'MissingAuthenticationTokenException', message: 'x' } })).userIdentity, { type: 'Unknown' });
  });

  test('an unknown operation name records requestParameters null and readOnly false', () => {
    const r = buildApiCallEvent(call({ eventName: 'TrentService.Bogus', request: { Secret: 'x' }, error: { name: 'UnknownOperationException', message: '' } }));
    assert.equal(r.requestParameters, null);
    assert.equal(r.readOnly, false);
  });

  test('readOnly per operation, management responses per operation', () => {
    for (const op of ['DescribeKey', 'ListKeys', 'GetKeyPolicy', 'ListAliases', 'DescribeCustomKeyStores', 'GenerateRandom', 'ReEncrypt']) {
      assert.equal(buildApiCallEvent(call({ eventName: op })).readOnly, true, op);
    }
    for (const op of ['CreateKey', 'ScheduleKeyDeletion', 'PutKeyPolicy', 'CreateAlias', 'TagResource', 'ConnectCustomKeyStore']) {
      assert.equal(buildApiCallEvent(call({ eventName: op })).readOnly, false, op);
    }
    // GetKeyPolicy's policy is omitted from the log (logging-using-cloudtrail), DescribeKey's metadata too.
    assert.equal(buildApiCallEvent(call({ eventName: 'GetKeyPolicy', request: { KeyId: 'k', PolicyName: 'default' }, response: { Policy: '{}' } })).responseElements, null);
    const sched = buildApiCallEvent(call({ eventName: 'ScheduleKeyDeletion', request: { KeyId: 'k', PendingWindowInDays: 20 }, response: { KeyId: KEY_ARN, DeletionDate: Date.UTC(2021, 3, 12, 18, 58, 30) / 1000, KeyState: 'PendingDeletion', PendingWindowInDays: 20 } }));
    assert.deepEqual(sched.requestParameters, { keyId: 'k', pendingWindowInDays: 20 });
    assert.deepEqual(sched.responseElements, { keyId: KEY_ARN, keyState: 'PendingDeletion', deletionDate: 'Apr 12, 2021, 6:58:30 PM', pendingWindowInDays: 20 });
    const store = buildApiCallEvent(call({ eventName: 'CreateCustomKeyStore', request: { CustomKeyStoreName: 'ExampleKeyStore', CloudHsmClusterId: 'cluster-1a23b4cdefg', TrustAnchorCertificate: '-----BEGIN', KeyStorePassword: 'kmsPswd' }, response: { CustomKeyStoreId: 'cks-1234567890abcdef0' } }));
    assert.deepEqual(store.requestParameters, { customKeyStoreName: 'ExampleKeyStore', clusterId: 'cluster-1a23b4cdefg' });
    assert.deepEqual(store.responseElements, { customKeyStoreId: 'cks-1234567890abcdef0' });
    const connect = buildApiCallEvent(call({ eventName: 'ConnectCustomKeyStore', request: { CustomKeyStoreId: 'cks-1' }, response: {}, customKeyStore: { name: 'ExampleKeyStore', clusterId: 'cluster-1a23b4cdefg' } }));
    assert.deepEqual(connect.additionalEventData, { customKeyStoreName: 'ExampleKeyStore', clusterId: 'cluster-1a23b4cdefg' });
    assert.equal(connect.responseElements, null);
  });

  test('ReEncrypt lists both keys in resources', () => {
    const dest = 'arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
    const r = buildApiCallEvent(call({ eventName: 'ReEncrypt', request: { CiphertextBlob: 'AQ==', DestinationKeyId: dest }, key: { arn: KEY_ARN, accountId: '111122223333' }, destinationKey: { arn: dest, accountId: '111122223333' } }));
    assert.deepEqual(r.resources?.map((x) => x.ARN), [KEY_ARN, dest]);
    assert.deepEqual(r.requestParameters, { destinationKeyId: dest, sourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', destinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
  });

  test('principalId: Root is the account id; users and roles get a stable AWS-looking id', () => {
    assert.equal(derivePrincipalId({ type: 'Root', arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333' }), '111122223333');
    const a = derivePrincipalId({ type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/Alice', accountId: '111122223333' });
    assert.match(a, /^AIDA[A-Z2-7]{17}$/);
    assert.equal(a, derivePrincipalId({ type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/Alice', accountId: '111122223333' }));
    assert.notEqual(a, derivePrincipalId({ type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/Bob', accountId: '111122223333' }));
    assert.match(derivePrincipalId({ type: 'AssumedRole', arn: 'arn:aws:sts::111122223333:assumed-role/Admin/session-1', accountId: '111122223333' }), /^AROA[A-Z2-7]{17}:session-1$/);
    assert.match(derivePrincipalId({ type: 'AssumedRole', arn: 'arn:aws:iam::111122223333:role/Admin', accountId: '111122223333' }), /^AROA[A-Z2-7]{17}$/);
  });

  test('eventTime and AWS date text', () => {
    assert.equal(eventTime(new Date('2020-07-31T00:07:00.999Z')), '2020-07-31T00:07:00Z');
    assert.equal(awsDateText(Date.UTC(2020, 5, 30, 2, 34, 7) / 1000), 'Jun 30, 2020, 2:34:07 AM');
    assert.equal(awsDateText(Date.UTC(2020, 5, 30, 0, 0, 0) / 1000), 'Jun 30, 2020, 12:00:00 AM');
    assert.equal(awsDateText(Date.UTC(2020, 5, 30, 12, 5, 0) / 1000), 'Jun 30, 2020, 12:05:00 PM');
  });
});

describe('service events', () => {
  test('DeleteKey by the deletion sweeper: ct-delete-key (AwsServiceEvent, AWS Internal, no requestID)', () => {
    const r = buildServiceEvent({ eventName: 'DeleteKey', time: new Date('2020-07-31T00:07:00Z'), region: 'us-east-1', key: { arn: KEY_ARN, accountId: '111122223333' }, eventId: 'b25f9cda-74e1-4458-847b-4972a0bf9668' });
    assert.deepEqual(JSON.parse(JSON.stringify(r)), {
      eventVersion: '1.11',
      userIdentity: { accountId: '111122223333', invokedBy: 'AWS Internal' },
      eventTime: '2020-07-31T00:07:00Z',
      eventSource: 'kms.amazonaws.com',
      eventName: 'DeleteKey',
      awsRegion: 'us-east-1',
      sourceIPAddress: 'AWS Internal',
      userAgent: 'AWS Internal',
      requestParameters: null,
      responseElements: { keyId: KEY_ARN },
      eventID: 'b25f9cda-74e1-4458-847b-4972a0bf9668',
      readOnly: false,
      resources: RESOURCE,
      eventType: 'AwsServiceEvent',
      managementEvent: true,
      recipientAccountId: '111122223333',
      eventCategory: 'Management',
    });
  });

  test('DeleteKey of a CloudHSM key: customKeyStoreId, clusterId, backingKeys and their deletion status as JSON strings', () => {
    const r = buildServiceEvent({
      eventName: 'DeleteKey', time: new Date('2021-10-26T23:41:27Z'), region: 'us-east-1', backingKeyDeletionStatus: 'SUCCESS',
      key: { arn: KEY_ARN, accountId: '111122223333', customKeyStoreId: 'cks-1234567890abcdef0', clusterId: 'cluster-1a23b4cdefg', backingKeyId: 'backing-key-id' },
    });
    assert.deepEqual(r.additionalEventData, {
      customKeyStoreId: 'cks-1234567890abcdef0',
      clusterId: 'cluster-1a23b4cdefg',
      backingKeys: '[{"backingKeyId":"backing-key-id"}]',
      backingKeysDeletionStatus: '[{"backingKeyId":"backing-key-id","deletionStatus":"SUCCESS"}]',
    });
    assert.match(r.eventID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
