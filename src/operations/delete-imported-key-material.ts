import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
import { hsmCall } from './hsm-errors.js';
import { assertExternalOrigin } from './import-access.js';
import { resolveKeyById } from './key-access.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { keyIdMember, str } from './wire.js';

/**
 * Destroys the key's imported material in the HSM; the key becomes PendingImport (unless it waits
 * for deletion) until the same material is imported again. The store says so first and the HSM
 * object goes second: an interrupted call leaves a key that cannot be used, never one that claims
 * to have no material while the HSM still holds it. Repeating the call finishes the job.
 */
export const deleteImportedKeyMaterial = defineOperation({
  name: 'DeleteImportedKeyMaterial',
  input: z.object({ KeyId: keyIdMember, KeyMaterialId: str(64, 64).regex(/^[a-f0-9]+$/u).optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    assertExternalOrigin(key);
    // A key whose material was never imported: nothing to delete (AWS: "no effect").
    if (key.backingKeyId === '') return { KeyId: key.arn };
    const materialId = input.KeyMaterialId ?? key.backingKeyId;
    const material = (await deps.store.listKeyMaterials(key.keyId)).find((m) => m.materialId === materialId);
    if (material === undefined) throw new KmsError('NotFoundException', `${key.arn} has no key material with ID ${materialId}.`);
    if (material.imported?.importState === 'IMPORTED') await deps.store.recordImportedMaterialDeleted(key.keyId, materialId);
    await hsmCall(() => deps.keyStores.hsmFor(key).destroySymmetricKey({ id: materialId, label: key.arn }));
    deps.logger.info({ keyId: key.keyId, ...keyMaterialId(key, 'keyMaterialId', materialId) }, 'imported key material deleted');
    return { KeyId: key.arn, ...keyMaterialId(key, 'KeyMaterialId', materialId) };
  },
});
