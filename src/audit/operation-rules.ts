// What CloudTrail records for each KMS operation: which request members appear in
// requestParameters, which response members in responseElements, and whether the event is
// read-only. Built from the KMS Developer Guide's CloudTrail examples (ct-*.html) and the
// "fields omitted for security reasons" rule of logging-using-cloudtrail.html.
//
// WARNING: requestParameters is an ALLOWLIST per operation. A member not listed here is never
// recorded, so a new operation (or a new member) logs nothing until someone decides what
// CloudTrail shows for it. An operation missing from this table records requestParameters: null.
// test/audit/record-secrets.test.ts checks that every member of every registered operation's
// schema is classified here, either allowed or in SECRET_MEMBERS.

/**
 * Members that carry plaintext, ciphertext, key material, passwords or bearer tokens. Never
 * recorded, whatever the operation, even if someone adds one to an allowlist by mistake (the
 * builder drops these at every depth of requestParameters and responseElements).
 */
export const SECRET_MEMBERS: ReadonlySet<string> = new Set([
  'Plaintext',
  'CiphertextBlob',
  'SourceCiphertextBlob',
  'CiphertextForRecipient',
  'Message',
  'Mac',
  'Signature',
  'PublicKey',
  'PrivateKeyPlaintext',
  'PrivateKeyCiphertextBlob',
  'SharedSecret',
  'KeyStorePassword',
  'XksProxyAuthenticationCredential',
  'TrustAnchorCertificate',
  'ImportToken',
  'EncryptedKeyMaterial',
  'Recipient',
  'AttestationDocument',
  // Grant tokens let their holder use a key before the grant is visible; treat them as bearer
  // secrets. (AWS's CreateGrant response shows grantToken… but we do not record it.)
  'GrantTokens',
  'GrantToken',
]);

/** Map-typed members whose keys are the caller's data and must not be camelCased. */
export const MAP_MEMBERS: ReadonlySet<string> = new Set([
  'EncryptionContext',
  'SourceEncryptionContext',
  'DestinationEncryptionContext',
  'EncryptionContextSubset',
  'EncryptionContextEquals',
]);

/** Members CloudTrail renames instead of just lower-casing the first letter. */
export const RENAMED_REQUEST_MEMBERS: Readonly<Record<string, string>> = {
  // ct-create-keystore: requestParameters {customKeyStoreName, clusterId}.
  CloudHsmClusterId: 'clusterId',
};

const XKS_PROXY_PUBLIC = [
  'XksProxyUriEndpoint',
  'XksProxyUriPath',
  'XksProxyVpcEndpointServiceName',
  'XksProxyVpcEndpointServiceOwner',
  'XksProxyConnectivity',
];

/** Request members recorded per operation (PascalCase wire names). */
export const REQUEST_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  CreateKey: [
    'Policy', 'Description', 'KeyUsage', 'CustomerMasterKeySpec', 'KeySpec', 'Origin', 'CustomKeyStoreId',
    'BypassPolicyLockoutSafetyCheck', 'Tags', 'MultiRegion', 'XksKeyId',
  ],
  DescribeKey: ['KeyId'],
  ListKeys: ['Limit', 'Marker'],
  EnableKey: ['KeyId'],
  DisableKey: ['KeyId'],
  ScheduleKeyDeletion: ['KeyId', 'PendingWindowInDays'],
  CancelKeyDeletion: ['KeyId'],
  UpdateKeyDescription: ['KeyId', 'Description'],
  Encrypt: ['KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'DryRun'],
  Decrypt: ['KeyId', 'EncryptionContext', 'EncryptionAlgorithm', 'DryRun', 'DryRunModifiers'],
  ReEncrypt: [
    'SourceKeyId', 'DestinationKeyId', 'SourceEncryptionContext', 'DestinationEncryptionContext',
    'SourceEncryptionAlgorithm', 'DestinationEncryptionAlgorithm', 'DryRun', 'DryRunModifiers',
  ],
  GenerateDataKey: ['KeyId', 'KeySpec', 'NumberOfBytes', 'EncryptionContext', 'DryRun'],
  GenerateDataKeyWithoutPlaintext: ['KeyId', 'KeySpec', 'NumberOfBytes', 'EncryptionContext', 'DryRun'],
  GenerateDataKeyPair: ['KeyId', 'KeyPairSpec', 'EncryptionContext', 'DryRun'],
  GenerateDataKeyPairWithoutPlaintext: ['KeyId', 'KeyPairSpec', 'EncryptionContext', 'DryRun'],
  GenerateRandom: ['NumberOfBytes', 'CustomKeyStoreId'],
  Sign: ['KeyId', 'MessageType', 'SigningAlgorithm', 'DryRun'],
  Verify: ['KeyId', 'MessageType', 'SigningAlgorithm', 'DryRun'],
  GenerateMac: ['KeyId', 'MacAlgorithm', 'DryRun'],
  VerifyMac: ['KeyId', 'MacAlgorithm', 'DryRun'],
  GetPublicKey: ['KeyId'],
  DeriveSharedSecret: ['KeyId', 'KeyAgreementAlgorithm', 'DryRun'],
  CreateAlias: ['AliasName', 'TargetKeyId'],
  UpdateAlias: ['AliasName', 'TargetKeyId'],
  DeleteAlias: ['AliasName'],
  ListAliases: ['KeyId', 'Limit', 'Marker'],
  TagResource: ['KeyId', 'Tags'],
  UntagResource: ['KeyId', 'TagKeys'],
  ListResourceTags: ['KeyId', 'Limit', 'Marker'],
  GetKeyPolicy: ['KeyId', 'PolicyName'],
  PutKeyPolicy: ['KeyId', 'PolicyName', 'Policy', 'BypassPolicyLockoutSafetyCheck'],
  ListKeyPolicies: ['KeyId', 'Limit', 'Marker'],
  EnableKeyRotation: ['KeyId', 'RotationPeriodInDays'],
  DisableKeyRotation: ['KeyId'],
  GetKeyRotationStatus: ['KeyId'],
  RotateKeyOnDemand: ['KeyId'],
  ListKeyRotations: ['KeyId', 'IncludeKeyMaterial', 'Limit', 'Marker'],
  GetParametersForImport: ['KeyId', 'WrappingAlgorithm', 'WrappingKeySpec'],
  // Never ImportToken or EncryptedKeyMaterial: the trail keeps no key material, even wrapped.
  ImportKeyMaterial: ['KeyId', 'ValidTo', 'ExpirationModel', 'ImportType', 'KeyMaterialDescription', 'KeyMaterialId'],
  DeleteImportedKeyMaterial: ['KeyId', 'KeyMaterialId'],
  CreateGrant: [
    'KeyId', 'GranteePrincipal', 'RetiringPrincipal', 'GranteeServicePrincipal', 'RetiringServicePrincipal', 'Operations',
    'Constraints', 'Name', 'DryRun',
  ],
  ListGrants: ['KeyId', 'GrantId', 'GranteePrincipal', 'GranteeServicePrincipal', 'Limit', 'Marker'],
  ListRetirableGrants: ['RetiringPrincipal', 'RetiringServicePrincipal', 'Limit', 'Marker'],
  RetireGrant: ['KeyId', 'GrantId', 'DryRun'],
  RevokeGrant: ['KeyId', 'GrantId', 'DryRun'],
  CreateCustomKeyStore: ['CustomKeyStoreName', 'CloudHsmClusterId', 'CustomKeyStoreType', ...XKS_PROXY_PUBLIC],
  DescribeCustomKeyStores: ['CustomKeyStoreId', 'CustomKeyStoreName', 'Limit', 'Marker'],
  ConnectCustomKeyStore: ['CustomKeyStoreId'],
  DisconnectCustomKeyStore: ['CustomKeyStoreId'],
  UpdateCustomKeyStore: ['CustomKeyStoreId', 'NewCustomKeyStoreName', 'CloudHsmClusterId', ...XKS_PROXY_PUBLIC],
  DeleteCustomKeyStore: ['CustomKeyStoreId'],
};

/**
 * Response members recorded on success. Every other operation records responseElements: null:
 * cryptographic operations (their output is plaintext or ciphertext), read-only operations
 * (GetKeyPolicy's policy, DescribeKey's metadata) and mutations with an empty response.
 */
export const RESPONSE_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  CreateKey: ['KeyMetadata'],
  ScheduleKeyDeletion: ['KeyId', 'KeyState', 'DeletionDate', 'PendingWindowInDays'],
  CancelKeyDeletion: ['KeyId'],
  RotateKeyOnDemand: ['KeyId'],
  ImportKeyMaterial: ['KeyId', 'KeyMaterialId'],
  DeleteImportedKeyMaterial: ['KeyId', 'KeyMaterialId'],
  CreateCustomKeyStore: ['CustomKeyStoreId'],
  CreateGrant: ['GrantId'],
};

/** Operations that use key material. AWS marks them readOnly: true (ct-encrypt, ct-decrypt, …). */
export const CRYPTO_OPERATIONS: ReadonlySet<string> = new Set([
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'GenerateRandom', 'Sign', 'Verify',
  'GenerateMac', 'VerifyMac', 'DeriveSharedSecret',
]);

/**
 * CloudTrail's readOnly: true for Describe*, List*, Get* and the cryptographic operations (which
 * change nothing), false for everything else, including unknown operation names.
 */
export function isReadOnly(eventName: string): boolean {
  return CRYPTO_OPERATIONS.has(eventName) || /^(Describe|List|Get)[A-Z]/.test(eventName);
}

/**
 * Whether a call must have an intent record durably written before it runs (AuditTrail.recordIntent):
 * every call that is not read-only. Unknown operation names count as mutating, like isReadOnly says:
 * an extra intent for a call that then fails costs one record; a missing one would let a change
 * go unrecorded.
 */
export function needsIntent(eventName: string): boolean {
  return !isReadOnly(eventName);
}

/** Defaults CloudTrail fills in when the request omitted them ("Decrypt always logs encryptionAlgorithm"). */
export const REQUEST_DEFAULTS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  Encrypt: { EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
  Decrypt: { EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
  ReEncrypt: { SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT', DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT' },
};
