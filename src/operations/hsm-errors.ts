// Turning an HSM outcome into what the client is told: one table from HsmErrorCode to the KMS
// error name and a client-safe message. The HSM port says what happened (src/ports/hsm.ts); this
// is the only place that decides how AWS KMS would answer it. The cause is kept for the log.

import type { KmsErrorName } from '../domain/errors.js';
import { KmsError } from '../domain/errors.js';
import { invalidCiphertext } from '../domain/ciphertext-blob.js';
import { HsmError } from '../ports/hsm.js';

const ANSWERS: Record<HsmError['code'], { readonly kms: KmsErrorName; readonly message: string }> = {
  HSM_DECRYPT_FAILED: { kms: 'InvalidCiphertextException', message: '' },
  HSM_BAD_SIGNATURE: { kms: 'KMSInvalidSignatureException', message: 'The signature or MAC is not valid.' },
  HSM_KEY_NOT_FOUND: { kms: 'KMSInternalException', message: 'The key material for this KMS key is not available in its HSM.' },
  // Dependency failures are 503: SDKs retry them.
  HSM_BUSY: { kms: 'DependencyTimeoutException', message: 'The HSM did not have a free session in time. Retry the request.' },
  HSM_TIMEOUT: { kms: 'DependencyTimeoutException', message: 'The HSM did not answer in time. Retry the request.' },
  HSM_DEVICE_GONE: { kms: 'DependencyTimeoutException', message: 'The HSM that holds this key is not available. Retry the request.' },
  HSM_UNAVAILABLE: { kms: 'KMSInternalException', message: 'The HSM that holds this key is not available. Retry the request.' },
  HSM_LOGIN_FAILED: { kms: 'KMSInternalException', message: 'keybridge could not log in to the HSM.' },
  HSM_TOKEN_NOT_FOUND: { kms: 'KMSInternalException', message: 'The HSM token for this key store was not found.' },
  HSM_UNSUPPORTED: { kms: 'UnsupportedOperationException', message: 'The HSM that holds this key does not support this operation.' },
  HSM_INCORRECT_KEY_MATERIAL: { kms: 'IncorrectKeyMaterialException', message: 'The key material is not valid key material for this KMS key.' },
  HSM_FAILED: { kms: 'KMSInternalException', message: 'The HSM failed to perform the operation.' },
  HSM_NO_ACTIVE_MEMBER: {
    kms: 'KMSInvalidStateException',
    message: 'No HSM of the key store\'s cluster is available. Retry the request when the cluster is healthy.',
  },
  // AWS KMS's own wording for a throttled request.
  HSM_THROTTLED: { kms: 'ThrottlingException', message: 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.' },
};

/** The KMS error name a client receives for this HSM outcome. */
export function kmsErrorNameOf(err: HsmError): KmsErrorName {
  return ANSWERS[err.code].kms;
}

/** Runs an HSM call, converting HsmError into KmsError; other errors pass through unchanged. */
export async function hsmCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toKmsError(err);
  }
}

export function toKmsError(err: unknown): unknown {
  if (!(err instanceof HsmError)) return err;
  if (err.code === 'HSM_DECRYPT_FAILED') {
    const e = invalidCiphertext();
    return new KmsError(e.kmsName, e.message, { cause: err });
  }
  const answer = ANSWERS[err.code];
  return new KmsError(answer.kms, answer.message, { cause: err });
}
