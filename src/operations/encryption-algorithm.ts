// EncryptionAlgorithm members: the enum AWS defines, and the check that the key supports it.

import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { algorithmsOf, type EncryptionAlgorithm } from '../domain/key-spec.js';

export const encryptionAlgorithm = z.enum(['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE']);

/**
 * The algorithm the request uses with `key` (SYMMETRIC_DEFAULT when absent, as AWS defaults it):
 * it must be one of the key's EncryptionAlgorithms, so an RSA key needs an explicit RSAES_OAEP_*
 * and a signing, MAC or key-agreement key cannot encrypt at all.
 */
export function checkAlgorithm(key: KeyRecord, algorithm: string | undefined): EncryptionAlgorithm {
  const chosen = algorithm ?? 'SYMMETRIC_DEFAULT';
  if (key.keyUsage !== 'ENCRYPT_DECRYPT') {
    throw new KmsError('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for encryption or decryption.`);
  }
  const offered: readonly string[] = algorithmsOf(key.keySpec, key.keyUsage)?.encryption ?? [];
  if (offered.includes(chosen)) return chosen as EncryptionAlgorithm;
  throw new KmsError('InvalidKeyUsageException', `The encryption algorithm ${chosen} is not compatible with the KMS key ${key.arn} (KeySpec ${key.keySpec}).`);
}
