// What the proxy tells AWS KMS when a key store or its HSM fails: one table, from the HSM port's
// outcome codes (src/ports/hsm.ts) to the spec's error names. Details stay in the log (cause).

import { KmsError } from '../domain/errors.js';
import { HsmError, type HsmErrorCode } from '../ports/hsm.js';
import { XksError, type XksErrorName } from './errors.js';

const ANSWERS: Record<HsmErrorCode, { readonly name: XksErrorName; readonly message: string }> = {
  HSM_DECRYPT_FAILED: { name: 'InvalidCiphertextException', message: 'The ciphertext, initialization vector, additional authenticated data, ciphertext metadata or authentication tag is invalid.' },
  HSM_BAD_SIGNATURE: { name: 'InvalidCiphertextException', message: 'The authentication tag does not verify.' },
  HSM_KEY_NOT_FOUND: { name: 'InternalException', message: 'The key material for this external key is not available in its HSM.' },
  HSM_BUSY: { name: 'DependencyTimeoutException', message: 'The HSM did not have a free session in time.' },
  HSM_TIMEOUT: { name: 'DependencyTimeoutException', message: 'The HSM did not answer in time.' },
  HSM_DEVICE_GONE: { name: 'DependencyTimeoutException', message: 'The HSM that holds this key is not available.' },
  HSM_UNAVAILABLE: { name: 'InternalException', message: 'The HSM that holds this key is not available.' },
  HSM_LOGIN_FAILED: { name: 'InternalException', message: 'The proxy could not log in to the HSM.' },
  HSM_TOKEN_NOT_FOUND: { name: 'InternalException', message: 'The HSM token of this key store was not found.' },
  HSM_UNSUPPORTED: { name: 'UnsupportedOperationException', message: 'The HSM that holds this key does not support this operation.' },
  HSM_INCORRECT_KEY_MATERIAL: { name: 'InternalException', message: 'The HSM failed to perform the operation.' },
  HSM_FAILED: { name: 'InternalException', message: 'The HSM failed to perform the operation.' },
  HSM_NO_ACTIVE_MEMBER: { name: 'DependencyTimeoutException', message: "No HSM of the key store's cluster is available." },
  HSM_THROTTLED: { name: 'ThrottlingException', message: 'The request rate is too high for the key store; retry later.' },
};

/** An XksError for anything an HSM or key-store call threw; unknown errors become InternalException. */
export function toXksError(err: unknown): XksError {
  if (err instanceof XksError) return err;
  if (err instanceof HsmError) {
    const answer = ANSWERS[err.code];
    return new XksError(answer.name, answer.message, { cause: err });
  }
  // A custom key store that is not connected (KeyStores.hsmForStore): the spec's "key store is disabled".
  if (err instanceof KmsError && (err.kmsName === 'CustomKeyStoreInvalidStateException' || err.kmsName === 'KMSInvalidStateException')) {
    return new XksError('InvalidStateException', "The key store that holds this key is not connected.", { cause: err });
  }
  return new XksError('InternalException', 'The proxy failed to perform the operation.', { cause: err });
}
