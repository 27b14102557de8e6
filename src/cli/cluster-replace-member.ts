// keybridge cluster replace-member: a member of a `keybridge`-replicated cluster was lost for good
// (its HSM failed, its token was wiped) and a new, empty token stands in its place. Every copy of a
// key is wrappable under the cluster's trusted wrapping key only (replication-templates.ts), so the
// surviving members can seed it; what the new token lacks is that trusted key, which only the
// security officer can install. This command is that ceremony, then it follows the seeding:
//
// 1. a new trusted wrapping key on every member, survivors and the new one (as `cluster init
//    --replace`: copies already made stay valid, the key is only used while copying);
// 2. every keybridge node connected to the cluster brings the member back at its next recovery
//    attempt: before it serves, the member's resync copies each key it lacks from a survivor
//    (cluster-hsm.ts `prepare`), so clients never reach a half-seeded member;
// 3. with --store-id, progress through the admin API (DescribeKeyStoreHealth IncludeReplicas) until
//    the member serves and holds every key.
//
// The seeding is left to the nodes rather than done here: two writers copying the same key into one
// token at once could leave two objects with one CKA_ID.

import { installClusterWrappingKey } from '../hsm/pkcs11/cluster-wrapping-key.js';
import { adminCall } from './admin-client.js';
import { UsageError } from './args.js';
import { clusterFromOptions, soPinFromOptions, wrappingKeyMembers } from './cluster-common.js';
import { type Command, type CommandContext, req, str } from './command.js';

const DEFAULT_TIMEOUT_SECONDS = 900;
const POLL_MS = 1_000;

interface SeedingView {
  Members: Array<{ Name: string; State: string; Reason: string | null }>;
  Replicas: { KeyCount: number; BelowQuorum: number; AtFullStrength: number; Members: string[]; PerMember: Array<{ Name: string; Keys: number }> } | null;
}

export const clusterReplaceMember: Command = {
  group: 'cluster',
  name: 'replace-member',
  summary: 'Seed a new token standing in for a lost member of a keybridge-replicated cluster (security officer).',
  description:
    'For clusters with "replication": "keybridge" whose member was lost for good. Prepare the new token first where the ' +
    'cluster definition expects the member (same module and token label, or edit the definition and restart the nodes one ' +
    'at a time), initialised with the cluster\'s crypto-user PIN. This command installs a new trusted wrapping key on every ' +
    'member with the SO PIN (--so-pin-file; for the embedded example cluster <data-dir>/pins/<cluster-id>-so.pin), after ' +
    'which every keybridge node connected to the cluster copies each key the member lacks from the surviving members before ' +
    'the member serves again. With --store-id, it follows the seeding through the admin API and prints progress until the ' +
    'member serves and holds every key (exit status 1 if that takes longer than --timeout seconds). For "replication": ' +
    '"vendor" clusters the HSM product re-seeds its members: follow the vendor\'s procedure.',
  options: [
    { name: 'cluster-id', kind: 'string', metavar: 'ID', required: true, description: 'The cluster (cluster-...), as in hsm-config/clusters.' },
    { name: 'member', kind: 'string', metavar: 'NAME', required: true, description: 'The member the new token replaces, by its name in the definition.' },
    { name: 'so-pin-file', kind: 'string', metavar: 'FILE', description: 'File holding the members\' security-officer PIN.' },
    { name: 'clusters-dir', kind: 'string', metavar: 'DIR', description: 'Cluster definitions. Default: the installation\'s hsm-config/clusters.' },
    { name: 'store-id', kind: 'string', metavar: 'ID', description: 'A custom key store on the cluster (cks-...): follow the seeding through the admin API.' },
    { name: 'timeout', kind: 'string', metavar: 'SECONDS', description: `How long to follow the seeding. Default ${DEFAULT_TIMEOUT_SECONDS}.` },
  ],
  validate(values) {
    const timeout = values['timeout'];
    if (typeof timeout === 'string' && !/^[1-9]\d{0,5}$/u.test(timeout)) throw new UsageError('--timeout must be a whole number of seconds (1 to 999999)');
  },
  async run(ctx) {
    const clusterId = req(ctx.values, 'cluster-id');
    const name = req(ctx.values, 'member');
    const cluster = clusterFromOptions(ctx, clusterId);
    if (cluster.replication !== 'keybridge') {
      throw new UsageError(`cluster ${clusterId} uses "replication": "${cluster.replication}": the HSM product re-seeds its members; follow its backup and member-replacement procedure (docs/backup.md)`);
    }
    if (!cluster.members.some((m) => m.name === name)) {
      throw new UsageError(`cluster ${clusterId} has no member ${name} (members: ${cluster.members.map((m) => m.name).join(', ')})`);
    }
    if (cluster.members.length < 2) throw new UsageError(`cluster ${clusterId} has one member: there is no survivor to seed ${name} from`);
    const soPin = soPinFromOptions(ctx, clusterId);
    const installed = await installClusterWrappingKey(wrappingKeyMembers(cluster), soPin, { replace: true });
    ctx.out.print({
      json: { ClusterId: clusterId, Member: name, WrappingKey: installed.members.map((m) => ({ Name: m.member, Installed: m.installed })) },
      table: { lines: [`${clusterId}: a new trusted wrapping key is on ${installed.members.map((m) => m.member).join(', ')}; keybridge nodes now seed ${name} from the others`] },
    });
    const storeId = str(ctx.values, 'store-id');
    if (storeId === undefined) {
      ctx.warn(`follow the seeding with \`keybridge keystore health --replicas <store id>\`: ${name} serves again once it holds every key`);
      return 0;
    }
    return follow(ctx, storeId, name, Number(str(ctx.values, 'timeout') ?? DEFAULT_TIMEOUT_SECONDS) * 1000);
  },
};

/** Prints a line whenever the member's count or state changes; 0 once it serves holding every key. */
async function follow(ctx: CommandContext, storeId: string, name: string, timeoutMs: number): Promise<number> {
  const giveUpAt = ctx.now() + timeoutMs;
  let last = '';
  for (;;) {
    const asked = ctx.now();
    const view = await adminCall<SeedingView>(ctx, 'DescribeKeyStoreHealth', { CustomKeyStoreId: storeId, IncludeReplicas: true });
    // Counting replicas lists every member's objects, work the seeding competes with: ask at most
    // half the time (a large cluster's count takes seconds).
    const pause = Math.max(POLL_MS, 2 * (ctx.now() - asked));
    const member = view.Members.find((m) => m.Name === name);
    const held = view.Replicas?.PerMember.find((m) => m.Name === name)?.Keys ?? 0;
    const total = view.Replicas?.KeyCount ?? 0;
    const serving = member !== undefined && member.State !== 'UNAVAILABLE';
    const line = `${name}: ${member?.State ?? 'not connected'}, holds ${held} of ${total} keys` + (serving || member?.Reason == null ? '' : ` (${member.Reason})`);
    if (line !== last) ctx.warn(line);
    last = line;
    if (serving && view.Replicas !== null && held === total) {
      ctx.warn(`${name} is seeded: ${view.Replicas.AtFullStrength} of ${total} keys on all ${view.Replicas.Members.length} members, ${view.Replicas.BelowQuorum} below the quorum`);
      return 0;
    }
    if (ctx.now() >= giveUpAt) {
      ctx.warn(`${name} was not seeded within ${timeoutMs / 1000} s: ${line}`);
      return 1;
    }
    await ctx.sleep(pause);
  }
}
