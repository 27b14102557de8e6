import { z } from 'zod';
import { defineAdminOperation } from './operation.js';
import { accessKeyEntry, loadPrincipal, principalArnMember, principalEntry } from './principal-wire.js';

/** The principal, its policy documents and its access keys (ids and status, never secrets). */
export const getPrincipal = defineAdminOperation({
  name: 'GetPrincipal',
  input: z.object({ PrincipalArn: principalArnMember }),
  async run(_ctx, deps, input) {
    const principal = await loadPrincipal(deps, input.PrincipalArn);
    const keys = await deps.store.listAccessKeys(principal.arn);
    return { Principal: { ...principalEntry(principal), Policies: principal.policies }, AccessKeys: keys.map(accessKeyEntry) };
  },
});
