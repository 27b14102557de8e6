import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { epochSeconds } from '../operations/key-metadata.js';
import { defineAdminOperation } from './operation.js';
import { loadPrincipal, MAX_ACCESS_KEYS_PER_PRINCIPAL, principalArnMember } from './principal-wire.js';

/** A new key for the principal. The response is the only time the secret is ever returned. */
export const createAccessKey = defineAdminOperation({
  name: 'CreateAccessKey',
  input: z.object({ PrincipalArn: principalArnMember }),
  async run(_ctx, deps, input) {
    const principal = await loadPrincipal(deps, input.PrincipalArn);
    if ((await deps.store.listAccessKeys(principal.arn)).length >= MAX_ACCESS_KEYS_PER_PRINCIPAL) {
      throw new KmsError('LimitExceededException', `Principal ${principal.arn} already has ${MAX_ACCESS_KEYS_PER_PRINCIPAL} access keys.`);
    }
    const { record, secretAccessKey } = await deps.principals.createAccessKey(principal.arn, deps.clock.now());
    return {
      AccessKeyId: record.accessKeyId,
      SecretAccessKey: secretAccessKey,
      PrincipalArn: record.principalArn,
      Status: record.status,
      CreateDate: epochSeconds(record.createdAt),
    };
  },
});
