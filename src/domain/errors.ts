// The KMS error table: every exception a client can see, with the HTTP status it travels with.
//
// Statuses follow what the live service sends (shared/reference/aws-kms-api.md §3.5 and §7.1):
// 400 for client faults even where the Smithy model says 404/409, 500 for KMSInternalException and
// KeyUnavailableException, 503 for DependencyTimeoutException. SDKs dispatch on `__type`, not on
// the status; the status only drives client retries (5xx and ThrottlingException are retried).

export const KMS_ERRORS = {
  // Modeled KMS exceptions.
  AlreadyExistsException: 400,
  CloudHsmClusterInUseException: 400,
  CloudHsmClusterInvalidConfigurationException: 400,
  CloudHsmClusterNotActiveException: 400,
  CloudHsmClusterNotFoundException: 400,
  CloudHsmClusterNotRelatedException: 400,
  ConflictException: 400,
  CustomKeyStoreHasCMKsException: 400,
  CustomKeyStoreInvalidStateException: 400,
  CustomKeyStoreNameInUseException: 400,
  CustomKeyStoreNotFoundException: 400,
  DependencyTimeoutException: 503,
  DisabledException: 400,
  DryRunOperationException: 412,
  ExpiredImportTokenException: 400,
  IncorrectKeyException: 400,
  IncorrectKeyMaterialException: 400,
  IncorrectTrustAnchorException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidGrantIdException: 400,
  InvalidGrantTokenException: 400,
  InvalidImportTokenException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  KMSInternalException: 500,
  KMSInvalidMacException: 400,
  KMSInvalidSignatureException: 400,
  KMSInvalidStateException: 400,
  KeyUnavailableException: 500,
  LimitExceededException: 400,
  MalformedPolicyDocumentException: 400,
  NotFoundException: 400,
  TagException: 400,
  UnsupportedOperationException: 400,
  // External key stores (XKS).
  XksKeyAlreadyInUseException: 400,
  XksKeyInvalidConfigurationException: 400,
  XksKeyNotFoundException: 400,
  XksProxyIncorrectAuthenticationCredentialException: 400,
  XksProxyInvalidConfigurationException: 400,
  XksProxyInvalidResponseException: 400,
  XksProxyUriEndpointInUseException: 400,
  XksProxyUriInUseException: 400,
  XksProxyUriUnreachableException: 400,
  XksProxyVpcEndpointServiceInUseException: 400,
  XksProxyVpcEndpointServiceInvalidConfigurationException: 400,
  XksProxyVpcEndpointServiceNotFoundException: 400,
  // Common errors of every AWS JSON service (reference §3.6).
  AccessDeniedException: 400,
  IncompleteSignatureException: 400,
  InvalidSignatureException: 400,
  MissingAuthenticationTokenException: 400,
  UnrecognizedClientException: 400,
  SerializationException: 400,
  ValidationException: 400,
  UnknownOperationException: 400,
  ThrottlingException: 400,
  RequestEntityTooLargeException: 413,
  ServiceUnavailableException: 503,
} as const;

export type KmsErrorName = keyof typeof KMS_ERRORS;

/**
 * An error meant for the client: `name` becomes `__type`, `message` is sent as is. Put nothing in
 * `message` that the caller may not see (no PKCS#11 detail, no paths); attach that as `cause`,
 * which is logged and never sent.
 */
export class KmsError extends Error {
  readonly kmsName: KmsErrorName;
  readonly status: number;

  constructor(kmsName: KmsErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KmsError';
    this.kmsName = kmsName;
    this.status = KMS_ERRORS[kmsName];
  }

  /** Server-side faults: logged at error level, retried by SDKs. */
  get isServerFault(): boolean {
    return this.status >= 500;
  }
}

/**
 * AWS's constraint-violation wording: "1 validation error detected: Value '31' at
 * 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal
 * to 30". Pass `value` only for members that are not secret (AWS omits it for Plaintext and blobs).
 */
export function validationError(member: string, constraint: string, value?: string | number): KmsError {
  const shown = value === undefined ? 'Value' : `Value '${String(value)}'`;
  return new KmsError(
    'ValidationException',
    `1 validation error detected: ${shown} at '${wireMemberPath(member)}' failed to satisfy constraint: ${constraint}`,
  );
}

/** AWS names members in validation messages in camelCase: `Plaintext` → `plaintext`. */
export function wireMemberPath(member: string): string {
  return member
    .split('.')
    .map((part) => (part.length > 0 ? part[0]!.toLowerCase() + part.slice(1) : part))
    .join('.');
}
