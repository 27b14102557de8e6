import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { customKeyStoreIdMember } from '../operations/custom-key-store-wire.js';
import type { MemberCapabilities } from '../ports/key-stores.js';
import { defineAdminOperation } from './operation.js';

/**
 * The live health of a custom key store's cluster members (`keybridge keystore health`): state,
 * reason, last deep check, calls in flight, session pool, and for an UNAVAILABLE member when it is
 * tried again. Only a CONNECTED store has members to
 * report; any other state is answered with the state, as the store's own view.
 * With IncludeCapabilities, each member also says, for every key spec and usage, whether its token
 * can serve it or which mechanism it lacks (null while the member is not open), and for
 * SYMMETRIC_DEFAULT which suite its keys get.
 */
export const describeKeyStoreHealth = defineAdminOperation({
  name: 'DescribeKeyStoreHealth',
  input: z.object({ CustomKeyStoreId: customKeyStoreIdMember, IncludeCapabilities: z.boolean().optional() }),
  async run(_ctx, deps, input) {
    const record = await deps.store.getCustomKeyStore(input.CustomKeyStoreId);
    if (record === undefined) {
      throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${input.CustomKeyStoreId} does not exist.`);
    }
    const health = deps.keyStores.health(record.id);
    const capabilities = input.IncludeCapabilities === true ? await deps.keyStores.capabilities(record.id) : undefined;
    return {
      CustomKeyStoreId: record.id,
      CloudHsmClusterId: record.clusterId,
      ConnectionState: deps.keyStores.stateOf(record),
      Replication: health?.replication ?? null,
      Members: (health?.members ?? []).map((m) => ({
        Name: m.name,
        TokenLabel: m.tokenLabel,
        State: m.state,
        Reason: m.reason ?? null,
        Since: m.since,
        Outstanding: m.outstanding,
        Pool: m.pool === undefined ? null : { InUse: m.pool.leased, Idle: m.pool.idle, Waiting: m.pool.waiting, Limit: m.pool.limit },
        LastCheck: m.lastCheck === undefined ? null : { At: m.lastCheck.at, Ok: m.lastCheck.ok, LatencyMs: m.lastCheck.latencyMs },
        Resets: m.resets,
        NextAttempt: m.nextAttempt ?? null,
        RecoveryAttempts: m.recoveryAttempts,
        ...(input.IncludeCapabilities === true ? { Capabilities: capabilitiesOf(capabilities?.find((c) => c.name === m.name)) } : {}),
      })),
    };
  },
});

/** SYMMETRIC_DEFAULT's row also names the suite its keys get there (docs/ciphertext-format.md). */
function capabilitiesOf(
  member: MemberCapabilities | undefined,
): Array<{ KeySpec: string; KeyUsage: string; Supported: boolean; MissingMechanism: string | null; SymmetricSuite?: string }> | null {
  if (member?.keySpecs === undefined) return null;
  return member.keySpecs.map((c) => ({
    KeySpec: c.spec,
    KeyUsage: c.usage,
    Supported: c.missing === undefined,
    MissingMechanism: c.missing ?? null,
    ...(c.spec === 'SYMMETRIC_DEFAULT' && member.symmetricSuite !== undefined ? { SymmetricSuite: member.symmetricSuite } : {}),
  }));
}
