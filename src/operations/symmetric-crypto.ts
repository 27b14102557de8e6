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
import type { OperationDeps, RequestContext } from './operation.js';
import { assembleXksBlob, encodeXksAadPrefix, isXksBlob, keyIdOfBlob, parseXksBlob } from '../domain/xks-ciphertext-blob.js';
import { cryptoFailure } from '../xks-client/kms-answers.js';
import type { RequestMetadata } from '../xks-client/proxy-client.js';

export function backingKeyRef(key: KeyRecord): BackingKeyRef {
  return { id: key.backingKeyId, label: key.arn };
}

/**
 * Who asks, for what: the requestMetadata an external key store's proxy is sent. An operation that
 * gives none cannot use keys in external key stores.
 */
export interface XksCall {
  readonly ctx: RequestContext;
  /** The KMS operation (requestMetadata.kmsOperation). */
  readonly kmsOperation: string;
}

/**
 * Encrypts under `key` (which the caller has checked is usable) and returns the blob. A key in an
 * external key store is sealed twice: under its own key in keybridge's HSM, then by the proxy.
 */
export async function seal(
  deps: OperationDeps,
  key: KeyRecord,
  plaintext: Buffer,
  context: EncryptionContext | undefined,
  contextMember = 'EncryptionContext',
  call?: XksCall,
): Promise<Buffer> {
  if (key.origin !== 'EXTERNAL_KEY_STORE') return sealInHsm(deps, key, plaintext, context, contextMember);
  const xksCall = needCall(key, call);
  const inner = await sealInHsm(deps, key, plaintext, context, contextMember);
  return sealByProxy(deps, key, inner, context, contextMember, xksCall);
}

async function sealInHsm(deps: OperationDeps, key: KeyRecord, plaintext: Buffer, context: EncryptionContext | undefined, contextMember: string): Promise<Buffer> {
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

async function sealByProxy(deps: OperationDeps, key: KeyRecord, inner: Buffer, context: EncryptionContext | undefined, contextMember: string, call: XksCall): Promise<Buffer> {
  const proxy = deps.keyStores.xksProxyFor(key);
  const aadPrefix = encodeXksAadPrefix(key.keyId);
  const aad = Buffer.concat([aadPrefix, canonicalEncryptionContext(context, contextMember)]);
  try {
    const sealed = await proxy.encrypt(key.xksKeyId!, { plaintext: inner, aad, requestMetadata: requestMetadataOf(key, call) });
    return assembleXksBlob(aadPrefix, sealed);
  } catch (err) {
    deps.logger.warn({ err, keyId: key.keyId }, 'the external key store proxy could not encrypt');
    throw cryptoFailure(err);
  }
}

function needCall(key: KeyRecord, call: XksCall | undefined): XksCall {
  if (call === undefined) {
    throw new KmsError('UnsupportedOperationException', `${key.arn} is in an external key store, which this operation cannot use.`);
  }
  return call;
}

function requestMetadataOf(key: KeyRecord, call: XksCall): RequestMetadata {
  return { kmsRequestId: call.ctx.requestId, kmsOperation: call.kmsOperation, awsPrincipalArn: call.ctx.principal.arn, kmsKeyArn: key.arn };
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
  const key = await keyById(deps, keyIdOfBlob(request.blob));
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
export async function open(deps: OperationDeps, key: KeyRecord, request: OpenRequest, call?: XksCall): Promise<{ plaintext: Buffer; keyMaterialId: string }> {
  // A key in an external key store opens only version-2 blobs, and only through its proxy: its
  // own inner layer alone must never decrypt (that would make the external key pointless).
  if (key.origin === 'EXTERNAL_KEY_STORE' !== isXksBlob(request.blob)) throw invalidCiphertext();
  const blob = key.origin === 'EXTERNAL_KEY_STORE' ? await openByProxy(deps, key, request, needCall(key, call)) : request.blob;
  const parsed = parseBlob(blob);
  if (parsed.keyId !== key.keyId) throw invalidCiphertext();
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

async function openByProxy(deps: OperationDeps, key: KeyRecord, request: OpenRequest, call: XksCall): Promise<Buffer> {
  const outer = parseXksBlob(request.blob);
  const proxy = deps.keyStores.xksProxyFor(key);
  const aad = Buffer.concat([outer.aadPrefix, canonicalEncryptionContext(request.context, request.contextMember)]);
  try {
    return await proxy.decrypt(key.xksKeyId!, {
      ciphertext: outer.ciphertext,
      iv: outer.iv,
      tag: outer.tag,
      ...(outer.ciphertextMetadata === undefined ? {} : { ciphertextMetadata: outer.ciphertextMetadata }),
      aad,
      requestMetadata: requestMetadataOf(key, call),
    });
  } catch (err) {
    deps.logger.warn({ err, keyId: key.keyId }, 'the external key store proxy could not decrypt');
    throw cryptoFailure(err);
  }
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
