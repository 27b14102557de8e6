import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { StoreError } from '../ports/store.js';
import { defineAdminOperation } from './operation.js';
import { accessKeyIdMember } from './principal-wire.js';

/** Activates or deactivates a key; an Inactive key fails authentication like an unknown one. */
export const updateAccessKey = defineAdminOperation({
  name: 'UpdateAccessKey',
  input: z.object({ AccessKeyId: accessKeyIdMember, Status: z.enum(['Active', 'Inactive']) }),
  async run(_ctx, deps, input) {
    try {
      await deps.store.setAccessKeyStatus(input.AccessKeyId, input.Status);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'NOT_FOUND') throw new KmsError('NotFoundException', `Access key ${input.AccessKeyId} does not exist.`);
      throw err;
    }
    await deps.principals.refresh();
    return {};
  },
});
