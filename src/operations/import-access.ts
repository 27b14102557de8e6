// What GetParametersForImport, ImportKeyMaterial and DeleteImportedKeyMaterial share: which keys
// take imported material, which wrapping algorithm can carry which material (AWS's rules), and
// the key-state rule.

import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { isRsaSpec, type KeySpec } from '../domain/key-spec.js';
import type { Hsm, ImportWrappingAlgorithm, ImportWrappingKeySpec } from '../ports/hsm.js';
import { hsmCall } from './hsm-errors.js';

export const WRAPPING_ALGORITHMS = ['RSAES_PKCS1_V1_5', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256', 'SM2PKE'] as const;
export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'SM2'] as const;

/** How long a wrapping public key and its import token are valid (AWS: 24 hours). */
export const IMPORT_PARAMETERS_VALID_MS = 24 * 60 * 60 * 1000;
/** ImportKeyMaterial's ValidTo may be at most this far ahead (AWS: 365 days). */
export const MAX_VALID_TO_MS = 365 * 24 * 60 * 60 * 1000;

// The largest DER PKCS#8 (with its public key) per curve: an RSAES_OAEP block must hold it whole.
const MAX_PKCS8_BYTES: Partial<Record<KeySpec, number>> = { ECC_NIST_P256: 138, ECC_SECG_P256K1: 135, ECC_NIST_P384: 185, ECC_NIST_P521: 241 };

/**
 * CreateKey with Origin EXTERNAL: the specs whose material keybridge can take. Ed25519 private
 * keys cannot be unwrapped into SoftHSM2 2.6.1 (nor wrapped out of it), so such a key would wait
 * for material for ever.
 */
export function assertImportableSpec(spec: KeySpec): void {
  if (spec === 'ECC_NIST_EDWARDS25519') {
    throw new KmsError('UnsupportedOperationException', `Importing key material is not supported for KeySpec ${spec} by keybridge: its HSMs cannot unwrap such private keys.`);
  }
}

/**
 * Imported SYMMETRIC_DEFAULT material is one AES-256 key, which only the AES_256_GCM suite can use:
 * a key store whose HSM has no AES-GCM (its materials are AES_256_CBC_HMAC_SHA_256, two keys each)
 * cannot take it, and says so before anything is made.
 */
export async function assertSymmetricImportable(hsm: Hsm, spec: KeySpec): Promise<void> {
  if (spec !== 'SYMMETRIC_DEFAULT') return;
  const choice = await hsmCall(() => hsm.symmetricSuite());
  if ('suite' in choice && choice.suite === 'AES_256_GCM') return;
  const why = 'suite' in choice ? `its symmetric keys use ${choice.suite}, which needs an encryption key and a MAC key, not one imported AES-256 key` : choice.refusal;
  throw new KmsError('UnsupportedOperationException', `Importing SYMMETRIC_DEFAULT key material is not supported by the HSM of this key store: ${why}.`);
}

/** UnsupportedOperationException unless the key was made for imported material (AWS key-state table, note 9). */
export function assertExternalOrigin(key: KeyRecord): void {
  if (key.origin !== 'EXTERNAL') {
    throw new KmsError('UnsupportedOperationException', `${key.arn} origin is ${key.origin} which is not valid for this operation.`);
  }
}

/** GetParametersForImport / ImportKeyMaterial refuse a key waiting for deletion (note 8). */
export function assertNotPendingDeletionForImport(key: KeyRecord): void {
  if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
}

/**
 * The wrapping algorithm and key spec a GetParametersForImport may use for this key's material,
 * narrowed to the ones keybridge serves. Throws the AWS error otherwise.
 */
export function checkWrapping(
  key: KeyRecord,
  algorithm: (typeof WRAPPING_ALGORITHMS)[number],
  wrappingKeySpec: (typeof WRAPPING_KEY_SPECS)[number],
): { algorithm: ImportWrappingAlgorithm; wrappingKeySpec: ImportWrappingKeySpec } {
  if (algorithm === 'RSAES_PKCS1_V1_5') {
    throw new KmsError('UnsupportedOperationException', 'WrappingAlgorithm RSAES_PKCS1_V1_5 is no longer supported (AWS KMS dropped it on 10 October 2023). Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.');
  }
  if (algorithm === 'SM2PKE' || wrappingKeySpec === 'SM2') {
    throw new KmsError('UnsupportedOperationException', 'SM2 wrapping (WrappingAlgorithm SM2PKE, WrappingKeySpec SM2) is available only in AWS China Regions; keybridge does not support it.');
  }
  if (isRsaSpec(key.keySpec) && algorithm.startsWith('RSAES_OAEP')) {
    throw new KmsError('ValidationException', `To import an RSA private key (${key.arn} has KeySpec ${key.keySpec}), you must use an RSA_AES wrapping algorithm.`);
  }
  const pkcs8 = MAX_PKCS8_BYTES[key.keySpec];
  if (pkcs8 !== undefined && algorithm.startsWith('RSAES_OAEP')) {
    const modulusBytes = Number(wrappingKeySpec.slice(4)) / 8;
    const hashBytes = algorithm.endsWith('SHA_1') ? 20 : 32;
    if (pkcs8 > modulusBytes - 2 * hashBytes - 2) {
      throw new KmsError('ValidationException', `${key.keySpec} key material does not fit in one ${algorithm} block of a ${wrappingKeySpec} wrapping key. Use a larger WrappingKeySpec or an RSA_AES wrapping algorithm.`);
    }
  }
  return { algorithm, wrappingKeySpec };
}
