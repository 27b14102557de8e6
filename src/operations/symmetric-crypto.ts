// The two halves every symmetric operation is made of: seal plaintext under a KMS key into a
// CiphertextBlob, and open a blob. Both run inside the HSM under the suite of the material
// (AES-GCM, or AES-CBC + HMAC-SHA-256 where the token has no GCM); here we only build the AAD and
// the blob around it.

import { assembleBlob, encodeAadPrefix, invalidCiphertext, parseBlob } from '../domain/ciphertext-blob.js';
import { canonicalEncryptionContext, type EncryptionContext } from '../domain/encryption-context.js';
import { KmsError } from '../domain/errors.js';
import { assertUsableForCrypto, type KeyRecord } from '../domain/key.js';
import type { BackingKeyRef } from '../ports/hsm.js';
import { hsmCall } from './hsm-errors.js';
import { keyById, resolveKey } from './key-access.js';
import type { OperationDeps } from './operation.js';

export function backingKeyRef(key: KeyRecord): BackingKeyRef {
  return { id: key.backingKeyId, label: key.arn };
}

/** Encrypts under `key` (which the caller has checked is usable) and returns the blob. */
export async function seal(deps: OperationDeps, key: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined, contextMember = 'EncryptionContext'): Promise<Buffer> {
  // GenerateDataKey* and GenerateDataKeyPair* reach here with any key the client named.
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError('InvalidKeyUsageException', `${key.arn} key spec is ${key.keySpec} which is not valid for this operation; it needs a symmetric encryption KMS key.`);
  }
  const suite = key.suite ?? 'AES_256_GCM';
  const aadPrefix = encodeAadPrefix(key.keyId, key.backingKeyId, suite);
  const aad = Buffer.concat([aadPrefix, canonicalEncryptionContext(context, contextMember)]);
  const hsm = deps.keyStores.hsmFor(key);
  const { iv, ciphertext, tag } = await hsmCall(() => hsm.encrypt(backingKeyRef(key), plaintext, aad, suite));
  return assembleBlob(aadPrefix, iv, ciphertext, tag);
}

export interface OpenRequest {
  readonly blob: Buffer;
  readonly context: EncryptionContext | undefined;
  readonly contextMember: string;
  /** The KeyId the client named, if any: it must be the key that made the blob. */
  readonly keyIdText: string | undefined;
}

/**
 * Finds the key a blob was made with and checks it may decrypt, without touching the HSM.
 * NotFoundException if the named KeyId does not exist; InvalidCiphertextException if the blob is
 * malformed or names no existing key; IncorrectKeyException if another existing key made it.
 */
export async function keyForBlob(deps: OperationDeps, request: OpenRequest): Promise<KeyRecord> {
  const named = request.keyIdText === undefined ? undefined : await resolveKey(deps, request.keyIdText);
  const parsed = parseBlob(request.blob);
  const key = await keyById(deps, parsed.keyId);
  // A blob naming no key we hold is damaged (or foreign): InvalidCiphertext even when KeyId was
  // given, so that a flipped bit in the key-id field reads as corruption, not as the wrong key.
  if (!key) throw invalidCiphertext();
  if (named && named.keyId !== key.keyId) throw incorrectKey();
  assertCryptoUsable(deps, key);
  return key;
}

/**
 * Decrypts a blob made by `key` (from keyForBlob) inside the HSM, with the material the blob names:
 * the current one or one a rotation left (docs/ciphertext-format.md). A material of another key —
 * or none — is InvalidCiphertextException. Resolves with the plaintext and that material's id.
 */
export async function open(deps: OperationDeps, key: KeyRecord, request: OpenRequest): Promise<{ plaintext: Buffer; keyMaterialId: string }> {
  const parsed = parseBlob(request.blob);
  let suite = key.suite ?? 'AES_256_GCM';
  if (parsed.backingKeyId !== key.backingKeyId) {
    const material = (await deps.store.listKeyMaterials(key.keyId)).find((m) => m.materialId === parsed.backingKeyId);
    if (material === undefined) throw invalidCiphertext();
    suite = material.suite ?? 'AES_256_GCM';
  }
  // The blob names its suite, and it must be the material's: a material is only ever used one way.
  if (parsed.suite !== suite) throw invalidCiphertext();
  const aad = Buffer.concat([parsed.aadPrefix, canonicalEncryptionContext(request.context, request.contextMember)]);
  const hsm = deps.keyStores.hsmFor(key);
  const plaintext = await hsmCall(() => hsm.decrypt({ id: parsed.backingKeyId, label: key.arn }, parsed.iv, parsed.ciphertext, parsed.tag, aad, suite));
  return { plaintext, keyMaterialId: parsed.backingKeyId };
}

/** Disabled, PendingDeletion, or Unavailable (its custom key store is not connected) → error. */
export function assertCryptoUsable(deps: OperationDeps, key: KeyRecord): void {
  assertUsableForCrypto(key, deps.keyStores.isConnected(key.customKeyStoreId));
}

function incorrectKey(): KmsError {
  return new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
}

export function dryRunSucceeded(): KmsError {
  return new KmsError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.');
}
