// What keybridge's KMS API answers when an external key store's proxy fails: the spec's "KMS
// Considerations" table (xks_proxy_api_spec.md, "Error codes"), one failure to one KMS exception
// per kind of operation, with AWS's own messages. The proxy's errorMessage is never relayed (AWS
// KMS logs it; so do we, as the cause). Also the ConnectionErrorCode a failed connect records.

import type { ConnectionErrorCode } from '../domain/custom-key-store.js';
import { KmsError, type KmsErrorName } from '../domain/errors.js';
import { XksProxyError } from './proxy-client.js';

/** Which failure of the table an error is. */
type Failure =
  | 'ValidationException'
  | 'InvalidStateException'
  | 'InvalidCiphertextException'
  | 'InvalidKeyUsageException'
  | 'AuthenticationFailedException'
  | 'AccessDeniedException'
  | 'KeyNotFoundException'
  | 'InvalidUriPathException'
  | 'UnsupportedOperationException'
  | 'DependencyTimeoutException'
  | 'ThrottlingException'
  | 'InternalException'
  | 'NO_TCP'
  | 'NO_TLS'
  | 'TIMEOUT'
  | 'MALFORMED';

const MESSAGES: Readonly<Record<Failure, string>> = {
  ValidationException: 'AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator.',
  InvalidStateException: 'The external key associated with this KMS key in an external key store is not enabled in the external key manager. Enable the external key in the external key manager and retry the request.',
  InvalidCiphertextException: 'The external key store proxy rejected the request because the specified ciphertext or encryption context is corrupted, missing, or otherwise invalid.',
  InvalidKeyUsageException: 'The external key associated with this KMS key in an external key store does not support the requested operation. Enable the operation on the key in your external key manager, and try the request again.',
  AuthenticationFailedException: 'The external key store proxy rejected the request because it could not authenticate AWS KMS. Verify the XKS proxy authentication credentials for your external key store and update if necessary.',
  AccessDeniedException: 'The external key store proxy denied access to the operation. Verify that the user and the external key are both authorized for this operation, and try the request again.',
  KeyNotFoundException: 'The external key associated with this KMS key in an external key store was not found in its external key manager. If the external key ID associated with this KMS key is incorrect, create a new KMS key with the correct external key ID.',
  InvalidUriPathException: 'The external key store proxy rejected the request because of an invalid URI path. Verify the URI path for your external key store and update if necessary.',
  UnsupportedOperationException: 'The external key store proxy rejected the request because it does not support the requested operation. If you see this error repeatedly, report it to your external key store proxy administrator.',
  DependencyTimeoutException: 'The external key store proxy did not respond to the request in the time allotted. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.',
  ThrottlingException: 'The external key store proxy rejected the request due to a very high request rate. Reduce the frequency of your calls using KMS keys in this external key store.',
  InternalException: 'The external key store proxy rejected the request because it cannot communicate with the external key manager. Verify that the external key store proxy configuration is correct and that the external key manager is available.',
  NO_TCP: 'AWS KMS cannot communicate with the external key store proxy. This might be a transient network issue. If you see this error repeatedly, verify that your external key store proxy is active and is connected to the network, and that its endpoint URI is correct in your external keystore.',
  NO_TLS: 'AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the TLS configuration, including its certificate.',
  TIMEOUT: 'AWS KMS rejected the request because the external key store proxy did not respond in time. Retry the request. If you see this error repeatedly, report it to your external key store proxy administrator.',
  MALFORMED: 'AWS KMS cannot interpret the response from the external key store proxy. If you see this error repeatedly, report it to your external key store proxy administrator.',
};

/** The table's message for a store that is not connected. */
export const NOT_CONNECTED_MESSAGE =
  'This KMS key is in a custom key store that is not connected to its external key store proxy. Connect the external key store and try the request again.';

function failureOf(err: unknown): Failure {
  if (!(err instanceof XksProxyError)) return 'MALFORMED';
  switch (err.kind) {
    case 'NOT_REACHABLE':
      return 'NO_TCP';
    case 'INVALID_TLS':
      return 'NO_TLS';
    case 'TIMED_OUT':
      return 'TIMEOUT';
    case 'INVALID_RESPONSE':
      return 'MALFORMED';
    case 'PROXY_ERROR':
      return err.errorName !== undefined && err.errorName in MESSAGES && !['NO_TCP', 'NO_TLS', 'TIMEOUT', 'MALFORMED'].includes(err.errorName)
        ? (err.errorName as Failure)
        : 'MALFORMED';
  }
}

function answer(name: KmsErrorName, failure: Failure, cause: unknown): KmsError {
  return new KmsError(name, MESSAGES[failure], { cause });
}

/** Encrypt, Decrypt, ReEncrypt, GenerateDataKey*: always KMSInvalidStateException, as AWS KMS answers. */
export function cryptoFailure(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  return answer('KMSInvalidStateException', failureOf(err), err);
}

/** CreateKey's GetKeyMetadata call. */
export function createKeyFailure(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  const failure = failureOf(err);
  switch (failure) {
    case 'KeyNotFoundException':
      return answer('XksKeyNotFoundException', failure, err);
    case 'InvalidStateException':
    case 'InvalidKeyUsageException':
      return answer('XksKeyInvalidConfigurationException', failure, err);
    case 'AccessDeniedException':
      return answer('KMSInvalidStateException', failure, err);
    default:
      return answer('CustomKeyStoreInvalidStateException', failure, err);
  }
}

/** CreateCustomKeyStore and UpdateCustomKeyStore, which check the proxy with GetHealthStatus. */
export function storeSetupFailure(err: unknown): KmsError {
  if (err instanceof KmsError) return err;
  const failure = failureOf(err);
  switch (failure) {
    case 'AuthenticationFailedException':
      return answer('XksProxyIncorrectAuthenticationCredentialException', failure, err);
    case 'InvalidUriPathException':
    case 'AccessDeniedException':
      return answer('XksProxyInvalidConfigurationException', failure, err);
    case 'NO_TCP':
    case 'NO_TLS':
    case 'TIMEOUT':
    case 'DependencyTimeoutException':
    case 'ThrottlingException':
      return answer('XksProxyUriUnreachableException', failure, err);
    default:
      return answer('XksProxyInvalidResponseException', failure, err);
  }
}

/** The ConnectionErrorCode a failed ConnectCustomKeyStore of an external key store records. */
export function connectionErrorCodeOf(err: unknown): ConnectionErrorCode {
  const failure = failureOf(err);
  switch (failure) {
    case 'AuthenticationFailedException':
      return 'INVALID_CREDENTIALS';
    case 'AccessDeniedException':
      return 'XKS_PROXY_ACCESS_DENIED';
    case 'InvalidUriPathException':
      return 'XKS_PROXY_INVALID_CONFIGURATION';
    case 'NO_TCP':
      return 'XKS_PROXY_NOT_REACHABLE';
    case 'NO_TLS':
      return 'XKS_PROXY_INVALID_TLS_CONFIGURATION';
    case 'TIMEOUT':
    case 'DependencyTimeoutException':
      return 'XKS_PROXY_TIMED_OUT';
    // The proxy answers, but its external key manager cannot serve: AWS's XKS_PROXY_NOT_REACHABLE
    // covers "the proxy reports that its external key managers are unavailable".
    case 'InternalException':
    case 'InvalidStateException':
    case 'ThrottlingException':
      return 'XKS_PROXY_NOT_REACHABLE';
    default:
      return 'XKS_PROXY_INVALID_RESPONSE';
  }
}
