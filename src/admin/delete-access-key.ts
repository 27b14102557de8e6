import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { defineAdminOperation } from './operation.js';
import { accessKeyIdMember } from './principal-wire.js';

export const deleteAccessKey = defineAdminOperation({
  name: 'DeleteAccessKey',
  input: z.object({ AccessKeyId: accessKeyIdMember }),
  async run(_ctx, deps, input) {
    const deleted = await deps.store.deleteAccessKey(input.AccessKeyId);
    await deps.principals.refresh();
    if (!deleted) throw new KmsError('NotFoundException', `Access key ${input.AccessKeyId} does not exist.`);
    return {};
  },
});
