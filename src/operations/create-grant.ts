import { z } from 'zod';
import { rootPrincipalArn } from '../domain/arn.js';
import { KmsError, validationError } from '../domain/errors.js';
import {
  GRANT_OPERATIONS,
  issueGrantToken,
  MAX_GRANTS_PER_KEY,
  newGrantId,
  newGrantTokenKey,
  normaliseConstraints,
  type GrantConstraints,
  type GrantOperation,
  type GrantRecord,
} from '../domain/grant.js';
import { assertNotPendingDeletion } from '../domain/key.js';
import {
  checkConstraints,
  checkGrantTokens,
  checkPrincipalArn,
  grantConstraintsMember,
  grantNameMember,
  grantOperationsFor,
  grantOperationsMember,
  principalMember,
  servicePrincipalMember,
} from './grant-wire.js';
import { resolveKeyById } from './key-access.js';
import { defineOperation } from './operation.js';
import { dryRunSucceeded } from './symmetric-crypto.js';
import { dryRun, grantTokens, keyIdMember } from './wire.js';
import { StoreError } from '../ports/store.js';

export const createGrant = defineOperation({
  name: 'CreateGrant',
  input: z.object({
    KeyId: keyIdMember,
    GranteePrincipal: principalMember.optional(),
    RetiringPrincipal: principalMember.optional(),
    Operations: grantOperationsMember,
    Constraints: grantConstraintsMember.optional(),
    GrantTokens: grantTokens.optional(),
    Name: grantNameMember.optional(),
    DryRun: dryRun.optional(),
    GranteeServicePrincipal: servicePrincipalMember.optional(),
    RetiringServicePrincipal: servicePrincipalMember.optional(),
  }),
  validate(input) {
    if (input.GranteeServicePrincipal !== undefined || input.RetiringServicePrincipal !== undefined || input.Constraints?.SourceArn !== undefined) {
      throw new KmsError('UnsupportedOperationException', 'keybridge does not support grants for AWS service principals.');
    }
    if (input.GranteePrincipal === undefined) throw validationError('GranteePrincipal', 'Member must not be null');
    checkPrincipalArn('GranteePrincipal', input.GranteePrincipal);
    if (input.RetiringPrincipal !== undefined) checkPrincipalArn('RetiringPrincipal', input.RetiringPrincipal);
    checkGrantTokens(input.GrantTokens);
  },
  async run(ctx, deps, input) {
    const granteePrincipal = input.GranteePrincipal!; // validate() refused its absence
    const key = await resolveKeyById(deps, input.KeyId);
    // Allowed while Disabled and while the key's custom key store is disconnected.
    assertNotPendingDeletion(key);

    // In the enum's order, once each: the list is a set.
    const operations = GRANT_OPERATIONS.filter((op) => input.Operations.includes(op));
    const allowed = grantOperationsFor(key);
    const invalid = operations.filter((op) => !allowed.has(op));
    if (invalid.length > 0) {
      throw new KmsError('ValidationException', `Grant operations ${invalid.join(', ')} are not valid for a KMS key with KeyUsage ${key.keyUsage} and KeySpec ${key.keySpec}.`);
    }
    const constraints = normaliseConstraints(
      input.Constraints && {
        ...(input.Constraints.EncryptionContextEquals ? { encryptionContextEquals: input.Constraints.EncryptionContextEquals } : {}),
        ...(input.Constraints.EncryptionContextSubset ? { encryptionContextSubset: input.Constraints.EncryptionContextSubset } : {}),
      },
    );
    checkConstraints(constraints, operations, key);
    if (input.DryRun) throw dryRunSucceeded();

    const wanted = {
      granteePrincipal,
      retiringPrincipal: input.RetiringPrincipal ?? null,
      operations,
      constraints,
    };
    // With a Name, a retry with identical parameters answers the existing grant (with a new
    // token); different parameters under the same name make a new grant, as in AWS.
    if (input.Name !== undefined) {
      const same = (await deps.store.findGrantsByName(key.keyId, input.Name)).find((g) => sameParameters(g, wanted));
      if (same) return { GrantToken: issueGrantToken(same), GrantId: same.grantId };
    }
    const grant: GrantRecord = {
      grantId: newGrantId(),
      keyId: key.keyId,
      name: input.Name ?? null,
      ...wanted,
      issuingAccount: rootPrincipalArn({ ...deps.account, accountId: ctx.principal.accountId }),
      createdAt: deps.clock.now(),
      tokenKey: newGrantTokenKey(),
    };
    try {
      // The store counts and inserts in one step: two nodes cannot both take the last place.
      await deps.store.createGrant(grant, { maxPerKey: MAX_GRANTS_PER_KEY });
    } catch (err) {
      if (err instanceof StoreError && err.code === 'LIMIT_EXCEEDED') {
        throw new KmsError('LimitExceededException', `The KMS key ${key.arn} already has ${MAX_GRANTS_PER_KEY} grants, the most a key may have.`);
      }
      throw err;
    }
    return { GrantToken: issueGrantToken(grant), GrantId: grant.grantId };
  },
});

function sameParameters(
  g: GrantRecord,
  w: { granteePrincipal: string; retiringPrincipal: string | null; operations: readonly GrantOperation[]; constraints: GrantConstraints | null },
): boolean {
  return (
    g.granteePrincipal === w.granteePrincipal &&
    g.retiringPrincipal === w.retiringPrincipal &&
    g.operations.length === w.operations.length &&
    g.operations.every((op) => w.operations.includes(op)) &&
    sameMap(g.constraints?.encryptionContextEquals, w.constraints?.encryptionContextEquals) &&
    sameMap(g.constraints?.encryptionContextSubset, w.constraints?.encryptionContextSubset)
  );
}

function sameMap(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const ea = Object.entries(a ?? {});
  return ea.length === Object.keys(b ?? {}).length && ea.every(([k, v]) => b !== undefined && Object.hasOwn(b, k) && b[k] === v);
}
