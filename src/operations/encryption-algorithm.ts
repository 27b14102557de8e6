// EncryptionAlgorithm members: the enum AWS defines, and the check that the key supports it.

import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';

export const encryptionAlgorithm = z.enum(['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE']);

/** Symmetric keys accept only SYMMETRIC_DEFAULT, which is also the default when absent. */
export function checkAlgorithm(key: KeyRecord, algorithm: string | undefined): 'SYMMETRIC_DEFAULT' {
  if (algorithm === undefined || algorithm === 'SYMMETRIC_DEFAULT') return 'SYMMETRIC_DEFAULT';
  throw new KmsError('InvalidKeyUsageException', `The encryption algorithm ${algorithm} is not compatible with the KMS key ${key.arn} (KeySpec ${key.keySpec}).`);
}
