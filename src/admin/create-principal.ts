import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { StoreError } from '../ports/store.js';
import { defineAdminOperation } from './operation.js';
import { accountIdMember, principalArn, principalEntry, principalNameMember } from './principal-wire.js';

/** Creates a user or role in any account (cross-account principals are allowed). */
export const createPrincipal = defineAdminOperation({
  name: 'CreatePrincipal',
  input: z.object({ AccountId: accountIdMember, Type: z.enum(['User', 'Role']), Name: principalNameMember }),
  async run(_ctx, deps, input) {
    const record = {
      arn: principalArn(deps.account.partition, input.AccountId, input.Type, input.Name),
      accountId: input.AccountId,
      type: input.Type,
      name: input.Name,
      path: '/',
      createdAt: deps.clock.now(),
      policies: {},
    };
    try {
      await deps.store.createPrincipal(record);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'CONFLICT') throw new KmsError('AlreadyExistsException', `Principal ${record.arn} already exists.`);
      throw err;
    }
    return { Principal: principalEntry(record) };
  },
});
