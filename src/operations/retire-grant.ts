import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { keyArn } from '../domain/arn.js';
import { grantTokenMatches, mayRetireGrant, parseGrantToken, type GrantRecord } from '../domain/grant.js';
import { checkGrantId, grantIdMember, grantTokenMember } from './grant-wire.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation, type OperationDeps } from './operation.js';
import { dryRunSucceeded } from './symmetric-crypto.js';
import { dryRun, keyIdMember } from './wire.js';

/**
 * Deletes a grant named by its token, or by key and grant id. Who may retire is decided by the
 * grant itself (domain/grant.ts `mayRetireGrant`), not by policies.
 */
export const retireGrant = defineOperation({
  name: 'RetireGrant',
  input: z.object({
    GrantToken: grantTokenMember.optional(),
    KeyId: keyIdMember.optional(),
    GrantId: grantIdMember.optional(),
    DryRun: dryRun.optional(),
  }),
  async run(ctx, deps, input) {
    const grant = await findGrantToRetire(deps, input);
    if (!mayRetireGrant(grant, ctx.principal)) {
      const keyArnText = keyArn(deps.account, grant.keyId);
      throw new KmsError(
        'AccessDeniedException',
        `User: ${ctx.principal.arn} is not authorized to perform: kms:RetireGrant on resource: ${keyArnText} because it is neither the grant's retiring principal nor its grantee with the RetireGrant operation`,
      );
    }
    if (input.DryRun) throw dryRunSucceeded();
    await deps.store.deleteGrant(grant.grantId);
    return undefined;
  },
});

/** The grant RetireGrant names, or the error AWS answers. Exported for the authorization layer. */
export async function findGrantToRetire(deps: OperationDeps, input: { GrantToken?: string; KeyId?: string; GrantId?: string }): Promise<GrantRecord> {
  if (input.GrantToken !== undefined) {
    const parsed = parseGrantToken(input.GrantToken);
    if (parsed === undefined) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.');
    if (input.GrantId !== undefined && input.GrantId !== parsed.grantId) {
      throw new KmsError('InvalidGrantIdException', 'The grant ID does not match the grant token.');
    }
    const grant = await deps.store.getGrant(parsed.grantId);
    if (grant === undefined) throw new KmsError('NotFoundException', 'Grant not found.');
    if (!grantTokenMatches(input.GrantToken, grant)) throw new KmsError('InvalidGrantTokenException', 'The grant token is not valid.');
    if (input.KeyId !== undefined && (await resolveKeyById(deps, input.KeyId)).keyId !== grant.keyId) {
      throw new KmsError('NotFoundException', 'Grant not found.');
    }
    return grant;
  }
  if (input.KeyId === undefined || input.GrantId === undefined) {
    throw new KmsError('ValidationException', 'Either GrantToken or both KeyId and GrantId must be specified.');
  }
  checkGrantId(input.GrantId);
  const key = await resolveKeyById(deps, input.KeyId);
  const grant = await deps.store.getGrant(input.GrantId);
  if (grant === undefined || grant.keyId !== key.keyId) throw new KmsError('NotFoundException', 'Grant not found.');
  return grant;
}
