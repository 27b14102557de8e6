// Shared checks for the operations on asymmetric, HMAC and key-agreement keys: the key's usage
// must be the operation's, the algorithm must be one the key's spec offers, and RSA encryption
// (which has no keybridge envelope: the ciphertext is the raw RSAES-OAEP output) in both directions.

import { KmsError } from '../domain/errors.js';
import type { EncryptionContext } from '../domain/encryption-context.js';
import type { KeyRecord } from '../domain/key.js';
import { algorithmsOf, isAsymmetricSpec, isRsaSpec, oaepHash, oaepMaxPlaintext, type AsymmetricKeySpec, type EncryptionAlgorithm, type KeyUsage } from '../domain/key-spec.js';
import { HsmError } from '../ports/hsm.js';
import { hsmCall } from './hsm-errors.js';
import { resolveKey } from './key-access.js';
import type { OperationDeps } from './operation.js';
import { assertCryptoUsable, backingKeyRef } from './symmetric-crypto.js';

/** Resolves a key for `operation`, checks its state, and that its KeyUsage is `usage`. */
export async function keyForUsage(deps: OperationDeps, keyIdText: string, usage: KeyUsage, operation: string): Promise<KeyRecord> {
  const key = await resolveKey(deps, keyIdText);
  assertCryptoUsable(deps, key);
  assertUsage(key, usage, operation);
  return key;
}

export function assertUsage(key: KeyRecord, usage: KeyUsage, operation: string): void {
  if (key.keyUsage !== usage) {
    throw new KmsError('InvalidKeyUsageException', `${key.arn} key usage is ${key.keyUsage} which is not valid for ${operation}.`);
  }
}

/** The key's spec as an asymmetric one (callers have checked the usage, which implies it). */
export function asymmetricSpec(key: KeyRecord): AsymmetricKeySpec {
  if (!isAsymmetricSpec(key.keySpec)) throw new KmsError('InvalidKeyUsageException', `${key.arn} is not an asymmetric KMS key.`);
  return key.keySpec;
}

/** Checks `algorithm` is in the key's list for `kind`; InvalidKeyUsageException otherwise. */
export function assertAlgorithm<T extends string>(key: KeyRecord, kind: 'signing' | 'mac' | 'keyAgreement', algorithm: T, what: string): T {
  const offered = (algorithmsOf(key.keySpec, key.keyUsage)?.[kind] ?? []) as readonly string[];
  if (!offered.includes(algorithm)) {
    throw new KmsError('InvalidKeyUsageException', `The ${what} algorithm ${algorithm} is not compatible with the KMS key ${key.arn} (KeySpec ${key.keySpec}).`);
  }
  return algorithm;
}

export function isRsaEncryptionKey(key: KeyRecord): boolean {
  return isRsaSpec(key.keySpec) && key.keyUsage === 'ENCRYPT_DECRYPT';
}

function rejectContext(context: EncryptionContext | undefined, member: string): void {
  if (context !== undefined && Object.keys(context).length > 0) {
    throw new KmsError('ValidationException', `${member} is not supported with asymmetric KMS keys; an encryption context is supported only with symmetric encryption KMS keys.`);
  }
}

type OaepAlgorithm = 'RSAES_OAEP_SHA_1' | 'RSAES_OAEP_SHA_256';

/** RSAES-OAEP encryption inside the HSM with the key's public key object. */
export async function rsaSeal(deps: OperationDeps, key: KeyRecord, algorithm: EncryptionAlgorithm, plaintext: Buffer, context: EncryptionContext | undefined, contextMember = 'EncryptionContext'): Promise<Buffer> {
  rejectContext(context, contextMember);
  const oaep = algorithm as OaepAlgorithm;
  if (!isRsaSpec(key.keySpec)) throw new KmsError('InvalidKeyUsageException', `${key.arn} cannot encrypt with ${algorithm}.`);
  const max = oaepMaxPlaintext(key.keySpec, oaep);
  if (plaintext.length > max) {
    throw new KmsError('ValidationException', `Plaintext is too long for ${algorithm} with a ${key.keySpec} key: at most ${max} bytes.`);
  }
  const hsm = deps.keyStores.hsmFor(key);
  return hsmCall(() => unsupportedByHsm(algorithm, () => hsm.rsaEncrypt(backingKeyRef(key), oaepHash(oaep), plaintext)));
}

/** RSAES-OAEP decryption inside the HSM; InvalidCiphertextException when it does not decrypt. */
export async function rsaOpen(deps: OperationDeps, key: KeyRecord, algorithm: EncryptionAlgorithm, ciphertext: Buffer, context: EncryptionContext | undefined, contextMember = 'EncryptionContext'): Promise<Buffer> {
  rejectContext(context, contextMember);
  const hsm = deps.keyStores.hsmFor(key);
  return hsmCall(() => unsupportedByHsm(algorithm, () => hsm.rsaDecrypt(backingKeyRef(key), oaepHash(algorithm as OaepAlgorithm), ciphertext)));
}

/** A padding the HSM refuses (SoftHSM2 2.6.1: OAEP with SHA-256) is the client's UnsupportedOperationException. */
async function unsupportedByHsm<T>(algorithm: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof HsmError && err.code === 'HSM_UNSUPPORTED') {
      throw new KmsError('UnsupportedOperationException', `The HSM of this key store does not support ${algorithm}.`, { cause: err });
    }
    throw err;
  }
}

/** For Decrypt and ReEncrypt: an asymmetric key is named by KeyId, never found from the blob. */
export async function namedAsymmetricKey(deps: OperationDeps, keyIdText: string | undefined): Promise<KeyRecord | undefined> {
  if (keyIdText === undefined) return undefined;
  const key = await resolveKey(deps, keyIdText);
  return key.keySpec === 'SYMMETRIC_DEFAULT' ? undefined : key;
}
