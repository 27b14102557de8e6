import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import { HsmError, IMPORT_WRAPPING_KEY_LABEL, type Hsm, type ImportedKeyMaterial } from '../ports/hsm.js';
import type { ExpirationModel } from '../ports/store.js';
import { openImportToken, type ImportTokenContents } from '../services/import-token.js';
import { toKmsError } from './hsm-errors.js';
import { assertExternalOrigin, assertNotPendingDeletionForImport, assertSymmetricImportable, MAX_VALID_TO_MS } from './import-access.js';
import { resolveKeyById } from './key-access.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation, type OperationDeps } from './operation.js';
import { blob, keyIdMember, str } from './wire.js';

const DESCRIPTION = /^[a-zA-Z0-9:/_\s.-]*$/u;

/**
 * Unwraps the caller's key material inside the HSM (hsm.importKeyMaterial: the plaintext never
 * exists outside the token) and makes it the key's material. The material id is computed in the
 * HSM from the material, so a key's material can be deleted and the same material imported again:
 * it gets the same id back, and every ciphertext made before decrypts again. Different material
 * is IncorrectKeyMaterialException, and nothing of it stays in the HSM.
 */
export const importKeyMaterial = defineOperation({
  name: 'ImportKeyMaterial',
  input: z.object({
    KeyId: keyIdMember,
    ImportToken: blob(1, 6144),
    EncryptedKeyMaterial: blob(1, 6144),
    ValidTo: z.number().optional(),
    ExpirationModel: z.enum(['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE']).optional(),
    ImportType: z.enum(['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL']).optional(),
    KeyMaterialDescription: str(0, 256).regex(DESCRIPTION).optional(),
    KeyMaterialId: str(64, 64).regex(/^[a-f0-9]+$/u).optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertExternalOrigin(key);
    assertNotPendingDeletionForImport(key);
    const now = deps.clock.now();
    const { expirationModel, validTo } = expiration(input.ExpirationModel, input.ValidTo, now);
    checkImportType(key, input.ImportType, input.KeyMaterialId, input.KeyMaterialDescription);
    const token = await usableToken(deps, key, input.ImportToken, now);

    const hsm = deps.keyStores.hsmFor(key);
    await assertSymmetricImportable(hsm, key.keySpec);
    const imported = await unwrapInHsm(hsm, key, token, input.EncryptedKeyMaterial);
    const expected = input.KeyMaterialId ?? (key.backingKeyId === '' ? undefined : key.backingKeyId);
    if (expected !== undefined && imported.materialId !== expected) {
      await forget(deps, hsm, key, imported);
      throw new KmsError(
        'IncorrectKeyMaterialException',
        input.KeyMaterialId !== undefined
          ? `The key material in the request does not have key material ID ${input.KeyMaterialId}.`
          : `The key material in the request is not the key material that was previously imported into ${key.arn}.`,
      );
    }
    try {
      await deps.store.recordImportedMaterial(key.keyId, {
        materialId: imported.materialId,
        importedAt: now,
        expirationModel,
        validTo,
        description: input.KeyMaterialDescription,
        ...(imported.publicKey === undefined ? {} : { publicKey: imported.publicKey.toString('base64') }),
      });
    } catch (err) {
      // Another import of other material won a race: ours must not stay in the HSM unnamed.
      await forget(deps, hsm, key, imported);
      throw err;
    }
    deps.logger.info({ keyId: key.keyId, ...keyMaterialId(key, 'keyMaterialId', imported.materialId), expirationModel }, 'key material imported');
    return { KeyId: key.arn, ...keyMaterialId(key, 'KeyMaterialId', imported.materialId) };
  },
});

/** AWS's rules: ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs a ValidTo within 365 days. */
function expiration(model: ExpirationModel | undefined, validToSeconds: number | undefined, now: number): { expirationModel: ExpirationModel; validTo: number | null } {
  const expirationModel = model ?? 'KEY_MATERIAL_EXPIRES';
  if (expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
    if (validToSeconds !== undefined) {
      throw new KmsError('ValidationException', 'ValidTo is allowed only when ExpirationModel is KEY_MATERIAL_EXPIRES.');
    }
    return { expirationModel, validTo: null };
  }
  if (validToSeconds === undefined) {
    throw new KmsError('ValidationException', 'ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES (the default). Set ValidTo, or ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE.');
  }
  const validTo = Math.round(validToSeconds * 1000);
  if (!Number.isFinite(validTo) || validTo <= now) throw new KmsError('ValidationException', 'ValidTo must be in the future.');
  if (validTo > now + MAX_VALID_TO_MS) throw new KmsError('ValidationException', 'ValidTo must be at most 365 days from now.');
  return { expirationModel, validTo };
}

/**
 * ImportType, KeyMaterialId and KeyMaterialDescription exist for symmetric encryption keys only.
 * keybridge keeps one imported material per key: NEW_KEY_MATERIAL is for a key that has none yet
 * (AWS's default then); for a key that has one, only that material can be imported again.
 */
function checkImportType(key: KeyRecord, importType: string | undefined, materialId: string | undefined, description: string | undefined): void {
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') {
    const given = [importType === undefined ? '' : 'ImportType', materialId === undefined ? '' : 'KeyMaterialId', description === undefined ? '' : 'KeyMaterialDescription'].filter(Boolean);
    if (given.length > 0) throw new KmsError('ValidationException', `${given.join(', ')} can be used only with symmetric encryption keys; ${key.arn} has KeySpec ${key.keySpec}.`);
    return;
  }
  const hasMaterial = key.backingKeyId !== '';
  const type = importType ?? (hasMaterial ? 'EXISTING_KEY_MATERIAL' : 'NEW_KEY_MATERIAL');
  if (type === 'NEW_KEY_MATERIAL') {
    if (materialId !== undefined) throw new KmsError('ValidationException', 'You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL.');
    if (hasMaterial) {
      throw new KmsError('UnsupportedOperationException', `${key.arn} already has key material; keybridge keeps one imported material per key, so only that material (ImportType EXISTING_KEY_MATERIAL) can be imported into it again.`);
    }
  } else if (!hasMaterial) {
    throw new KmsError('ValidationException', `${key.arn} has no key material yet; import its first material with ImportType NEW_KEY_MATERIAL.`);
  }
}

/** The token's contents, if it is ours, names this key and is still valid. */
async function usableToken(deps: OperationDeps, key: KeyRecord, tokenBytes: Buffer, now: number): Promise<ImportTokenContents> {
  const token = await openImportToken(deps.sealer, tokenBytes).catch((err: unknown) => {
    throw toKmsError(err);
  });
  if (token === undefined || token.keyId !== key.keyId) {
    throw new KmsError('InvalidImportTokenException', 'The import token is invalid or is associated with a different KMS key.');
  }
  if (token.validTo <= now) throw expiredToken();
  return token;
}

async function unwrapInHsm(hsm: Hsm, key: KeyRecord, token: ImportTokenContents, encryptedMaterial: Buffer): Promise<ImportedKeyMaterial> {
  try {
    return await hsm.importKeyMaterial({
      wrappingKey: { id: token.wrappingKeyId, label: IMPORT_WRAPPING_KEY_LABEL },
      wrappingKeySpec: token.wrappingKeySpec,
      algorithm: token.algorithm,
      encryptedMaterial,
      keyId: key.keyId,
      keyArn: key.arn,
      keySpec: key.keySpec,
      keyUsage: key.keyUsage,
    });
  } catch (err) {
    if (err instanceof HsmError && err.code === 'HSM_KEY_NOT_FOUND') throw expiredToken(err);
    if (err instanceof HsmError && err.code === 'HSM_DECRYPT_FAILED') {
      throw new KmsError('InvalidCiphertextException', 'KMS could not decrypt the encrypted (wrapped) key material with the wrapping key of this import token.', { cause: err });
    }
    throw toKmsError(err);
  }
}

/** Destroys material this request created but will not record (never material the key already had). */
async function forget(deps: OperationDeps, hsm: Hsm, key: KeyRecord, imported: ImportedKeyMaterial): Promise<void> {
  if (imported.alreadyPresent || imported.materialId === key.backingKeyId) return;
  await hsm.destroySymmetricKey({ id: imported.materialId, label: key.arn }).catch((err: unknown) => {
    deps.logger.error({ err, keyId: key.keyId }, 'could not destroy refused imported material; reconciliation reports it');
  });
}

function expiredToken(cause?: unknown): KmsError {
  return new KmsError('ExpiredImportTokenException', 'The import token has expired. Call GetParametersForImport for a new one.', cause === undefined ? undefined : { cause });
}
