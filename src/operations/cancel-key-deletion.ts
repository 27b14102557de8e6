import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation, type OperationDeps } from './operation.js';
import type { KeyRecord } from '../domain/key.js';
import { keyIdMember } from './wire.js';

export const cancelKeyDeletion = defineOperation({
  name: 'CancelKeyDeletion',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    if (key.state !== 'PendingDeletion') {
      throw new KmsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
    }
    // AWS leaves a key whose deletion was cancelled Disabled, or PendingImport when it has no
    // imported material in the HSM (never imported, deleted or expired).
    const state = (await hasUsableMaterial(deps, key)) ? 'Disabled' : 'PendingImport';
    await deps.store.updateKey(key.keyId, { state, deletionDate: null, pendingWindowDays: null });
    return { KeyId: key.arn };
  },
});

async function hasUsableMaterial(deps: OperationDeps, key: KeyRecord): Promise<boolean> {
  if (key.origin !== 'EXTERNAL') return true;
  if (key.backingKeyId === '') return false;
  const materials = await deps.store.listKeyMaterials(key.keyId);
  return materials.every((m) => m.imported === undefined || m.imported.importState === 'IMPORTED');
}
