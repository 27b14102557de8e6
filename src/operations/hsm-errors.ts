// Turning a classified HSM failure into what the client is told. The HSM adapter already decided
// the KMS error name (src/hsm/pkcs11/ckr.ts); here we only choose client-safe wording and keep the cause
// for the log.

import { KmsError } from '../domain/errors.js';
import { invalidCiphertext } from '../domain/ciphertext-blob.js';
import { HsmError } from '../ports/hsm.js';

const CLIENT_MESSAGES: Record<HsmError['code'], string> = {
  HSM_DECRYPT_FAILED: '',
  HSM_KEY_NOT_FOUND: 'The key material for this KMS key is not available in its HSM.',
  HSM_BUSY: 'The HSM did not have a free session in time. Retry the request.',
  HSM_UNAVAILABLE: 'The HSM that holds this key is not available. Retry the request.',
  HSM_LOGIN_FAILED: 'keybridge could not log in to the HSM.',
  HSM_TOKEN_NOT_FOUND: 'The HSM token for this key store was not found.',
  HSM_FAILED: 'The HSM failed to perform the operation.',
  HSM_NO_ACTIVE_MEMBER: 'No HSM of the key store\'s cluster is available. Retry the request when the cluster is healthy.',
  // AWS KMS's own wording for a throttled request.
  HSM_THROTTLED: 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
};

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
  return new KmsError(err.kms, CLIENT_MESSAGES[err.code], { cause: err });
}
