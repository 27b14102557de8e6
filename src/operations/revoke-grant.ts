import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { checkGrantId, grantIdMember } from './grant-wire.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { dryRunSucceeded } from './symmetric-crypto.js';
import { dryRun, keyIdMember } from './wire.js';

/** Deletes a grant; authorized by policy (kms:RevokeGrant), unlike RetireGrant. */
export const revokeGrant = defineOperation({
  name: 'RevokeGrant',
  input: z.object({ KeyId: keyIdMember, GrantId: grantIdMember, DryRun: dryRun.optional() }),
  async run(_ctx, deps, input) {
    checkGrantId(input.GrantId);
    const key = await resolveKeyById(deps, input.KeyId);
    const grant = await deps.store.getGrant(input.GrantId);
    if (grant === undefined || grant.keyId !== key.keyId) throw new KmsError('NotFoundException', 'Grant not found.');
    if (input.DryRun) throw dryRunSucceeded();
    await deps.store.deleteGrant(grant.grantId);
    return undefined;
  },
});
