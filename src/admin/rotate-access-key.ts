import { z } from 'zod';
import { epochSeconds } from '../operations/key-metadata.js';
import { defineAdminOperation } from './operation.js';
import { loadPrincipal, principalArnMember } from './principal-wire.js';

/**
 * Creates a new key for the principal, then deletes every key it had before. The new key is
 * live before the old ones go, so a caller that switches over at once never falls into a gap.
 */
export const rotateAccessKey = defineAdminOperation({
  name: 'RotateAccessKey',
  input: z.object({ PrincipalArn: principalArnMember }),
  async run(_ctx, deps, input) {
    const principal = await loadPrincipal(deps, input.PrincipalArn);
    const old = await deps.store.listAccessKeys(principal.arn);
    const { record, secretAccessKey } = await deps.principals.createAccessKey(principal.arn, deps.clock.now());
    for (const key of old) await deps.store.deleteAccessKey(key.accessKeyId);
    await deps.principals.refresh();
    return {
      AccessKeyId: record.accessKeyId,
      SecretAccessKey: secretAccessKey,
      PrincipalArn: record.principalArn,
      Status: record.status,
      CreateDate: epochSeconds(record.createdAt),
      DeletedAccessKeyIds: old.map((k) => k.accessKeyId),
    };
  },
});
