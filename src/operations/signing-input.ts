// What Sign and Verify hand the HSM for a message: the digest (RSA, ECDSA) or the message itself
// (ED25519_SHA_512). RAW messages are hashed here — hashing a message is a public computation, and
// it lets every device sign with its plain CKM_RSA_PKCS / CKM_RSA_PKCS_PSS / CKM_ECDSA. DIGEST
// messages are passed through exactly as given (never hashed again) once their length matches.

import { createHash } from 'node:crypto';
import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
import { signingScheme, type SigningAlgorithm } from '../domain/key-spec.js';

export const signingAlgorithm = z.enum([
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
  'SM2DSA',
  'ML_DSA_SHAKE_256',
  'ED25519_SHA_512',
  'ED25519_PH_SHA_512',
]);

export const messageType = z.enum(['RAW', 'DIGEST', 'EXTERNAL_MU']);

export function signingInput(algorithm: SigningAlgorithm, type: 'RAW' | 'DIGEST' | 'EXTERNAL_MU', message: Buffer): Buffer {
  const scheme = signingScheme(algorithm);
  if (type === 'EXTERNAL_MU') {
    throw new KmsError('ValidationException', `MessageType EXTERNAL_MU is valid only with ML_DSA_SHAKE_256, not ${algorithm}.`);
  }
  if (scheme.hash === undefined) {
    // PureEdDSA signs the message; the HSM hashes it as part of Ed25519.
    if (type !== 'RAW') throw new KmsError('ValidationException', `${algorithm} requires MessageType RAW.`);
    return message;
  }
  if (type === 'RAW') return createHash(scheme.hash).update(message).digest();
  if (message.length !== scheme.digestBytes) {
    throw new KmsError('ValidationException', `Digest is invalid length for algorithm ${algorithm}.`);
  }
  return message;
}
