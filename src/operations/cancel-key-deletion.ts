import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { keyIdMember } from './wire.js';

export const cancelKeyDeletion = defineOperation({
  name: 'CancelKeyDeletion',
  input: z.object({ KeyId: keyIdMember }),
  async run(_ctx, deps, input) {
    const key = await resolveKeyById(deps, input.KeyId);
    if (key.state !== 'PendingDeletion') {
      throw new KmsError('KMSInvalidStateException', `${key.arn} is not pending deletion.`);
    }
    // AWS leaves a key whose deletion was cancelled Disabled.
    await deps.store.updateKey(key.keyId, { state: 'Disabled', deletionDate: null, pendingWindowDays: null });
    return { KeyId: key.arn };
  },
});
