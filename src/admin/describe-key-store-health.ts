import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { customKeyStoreIdMember } from '../operations/custom-key-store-wire.js';
import type { MemberCapabilities } from '../ports/key-stores.js';
import { REPORT_FRESH_MS } from '../services/node-reports.js';
import { keyStoreHealthWire, type KeyStoreHealthWire } from './key-store-health-wire.js';
import { defineAdminOperation, type AdminDeps } from './operation.js';

/**
 * The live health of a custom key store's cluster members (`keybridge keystore health`): state,
 * reason, last deep check, calls in flight, session pool, and for an UNAVAILABLE member when it is
 * tried again. Only a CONNECTED store has members to
 * report; any other state is answered with the state, as the store's own view.
 * With IncludeCapabilities, each member also says, for every key spec and usage, whether its token
 * can serve it or which mechanism it lacks (null while the member is not open), and for
 * SYMMETRIC_DEFAULT which suite its keys get. With IncludeReplicas, Replicas says for every key
 * which of this node's members hold it and whether it is below the quorum (a member being seeded
 * after a replacement climbs to the key count in PerMember).
 *
 * The top level is the view of the node that answers (Node); Nodes lists every node's own view
 * (its own sessions to the cluster), this node's live and the others' as they last reported it.
 */
export const describeKeyStoreHealth = defineAdminOperation({
  name: 'DescribeKeyStoreHealth',
  input: z.object({ CustomKeyStoreId: customKeyStoreIdMember, IncludeCapabilities: z.boolean().optional(), IncludeReplicas: z.boolean().optional() }),
  async run(_ctx, deps, input) {
    const record = await deps.store.getCustomKeyStore(input.CustomKeyStoreId);
    if (record === undefined) {
      throw new KmsError('CustomKeyStoreNotFoundException', `Custom key store ${input.CustomKeyStoreId} does not exist.`);
    }
    const own = keyStoreHealthWire(record, deps.keyStores);
    const capabilities = input.IncludeCapabilities === true ? await deps.keyStores.capabilities(record.id) : undefined;
    const replicas = input.IncludeReplicas === true ? await replicasOf(deps, record.id) : undefined;
    // Every other node's own view (services/node-reports.ts), fresh ones only; this node's is live.
    const others = (await deps.store.nodeReports(record.id, deps.clock.now() - REPORT_FRESH_MS)).filter((r) => r.node !== deps.node);
    return {
      CustomKeyStoreId: record.id,
      CloudHsmClusterId: record.clusterId,
      Node: deps.node,
      ...own,
      Members: own.Members.map((m) => ({
        ...m,
        ...(input.IncludeCapabilities === true ? { Capabilities: capabilitiesOf(capabilities?.find((c) => c.name === m.Name)) } : {}),
      })),
      ...(input.IncludeReplicas === true ? { Replicas: replicas ?? null } : {}),
      Nodes: [
        { Node: deps.node, ReportedAt: new Date(deps.clock.now()).toISOString(), ...own },
        ...others.map((r) => ({ Node: r.node, ReportedAt: new Date(r.reportedAt).toISOString(), ...(JSON.parse(r.report) as KeyStoreHealthWire) })),
      ].sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0)),
    };
  },
});

/**
 * Each key's replica count as this node's members list them (null when the store is not connected
 * here): the members holding it, and whether it is below the quorum or short of every member.
 */
async function replicasOf(deps: AdminDeps, customKeyStoreId: string) {
  const report = await deps.keyStores.replicas(customKeyStoreId);
  if (report === undefined) return undefined;
  const keys = report.keys.map((key) => ({
    KeyId: key.keyId ?? null,
    BackingKeyId: key.backingKeyId,
    Replicas: key.holders.length,
    Holders: key.holders,
    BelowQuorum: key.holders.length < report.quorum,
  }));
  return {
    Members: report.members,
    ListedMembers: report.listed,
    Quorum: report.quorum,
    KeyCount: keys.length,
    AtFullStrength: keys.filter((k) => k.Replicas === report.members.length).length,
    BelowQuorum: keys.filter((k) => k.BelowQuorum).length,
    // Per member: how many of the keys it holds (a member being seeded climbs to KeyCount).
    PerMember: report.members.map((name) => ({ Name: name, Keys: keys.filter((k) => k.Holders.includes(name)).length })),
    Keys: keys,
  };
}

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
