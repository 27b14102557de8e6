// keybridge keystore health: the live state of a custom key store's cluster members (admin API
// DescribeKeyStoreHealth): ACTIVE / DEGRADED / UNAVAILABLE with the reason, the last deep check,
// work in flight and the session pool.

import { adminCall } from './admin-client.js';
import { UsageError } from './args.js';
import { type Command, req } from './command.js';
import type { Printer } from './output.js';

interface MemberHealth {
  Name: string;
  TokenLabel: string;
  State: string;
  Reason: string | null;
  Since: string;
  Outstanding: number;
  Pool: { InUse: number; Idle: number; Waiting: number; Limit: number } | null;
  LastCheck: { At: string; Ok: boolean; LatencyMs: number } | null;
  Resets: number;
  NextAttempt: string | null;
  RecoveryAttempts: number;
  Capabilities?: Array<{ KeySpec: string; KeyUsage: string; Supported: boolean; MissingMechanism: string | null; SymmetricSuite?: string }> | null;
}

interface Replicas {
  Members: string[];
  ListedMembers: string[];
  Quorum: number;
  KeyCount: number;
  AtFullStrength: number;
  BelowQuorum: number;
  PerMember: Array<{ Name: string; Keys: number }>;
  Keys: Array<{ KeyId: string | null; BackingKeyId: string; Replicas: number; Holders: string[]; BelowQuorum: boolean }>;
}

interface NodeHealth {
  Node: string;
  ReportedAt: string;
  ConnectionState: string;
  Replication: string | null;
  Members: MemberHealth[];
}

interface Health {
  CustomKeyStoreId: string;
  CloudHsmClusterId: string;
  /** The node that answered; the top level is its view. */
  Node: string;
  ConnectionState: string;
  Replication: string | null;
  Members: MemberHealth[];
  /** Every node's own view (several nodes on one PostgreSQL store). */
  Nodes: NodeHealth[];
  /** With --replicas; null when the store is not connected on the answering node. */
  Replicas?: Replicas | null;
}

export const keystoreHealth: Command = {
  group: 'keystore',
  name: 'health',
  positional: 'id',
  summary: 'Show the health of a custom key store\'s HSM cluster members.',
  description:
    'For a CONNECTED store: each member\'s state (ACTIVE, DEGRADED, UNAVAILABLE) and why, since when, its last deep ' +
    'check (a real encrypt and decrypt inside the member), calls in flight, session pool use and, for an UNAVAILABLE ' +
    'member, when keybridge tries to bring it back (it never stops trying while the store is connected). With several ' +
    'nodes on one PostgreSQL store, every node\'s own view (NODE column; each node connects its own sessions). The store id may be ' +
    'given as `keybridge keystore health ID` or with --id. Exit status 1 when no member is ACTIVE or DEGRADED. ' +
    'With --capabilities: for every key spec and usage, whether each member\'s token can serve it, or the mechanism it lacks ' +
    '(what CreateKey refuses by). With --replicas: for every key, how many members hold it and which, the keys below ' +
    'the quorum, and how many keys each member holds (a member being seeded after `keybridge cluster replace-member` ' +
    'climbs to the key count); exit status 1 when a key is below the quorum.',
  options: [
    { name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' },
    { name: 'capabilities', kind: 'flag', description: 'Show what each member\'s token can serve instead of its health.' },
    { name: 'replicas', kind: 'flag', description: 'Show each key\'s replica count instead of the members\' health.' },
  ],
  validate(values) {
    if (values['capabilities'] === true && values['replicas'] === true) throw new UsageError('--capabilities and --replicas cannot be used together');
  },
  async run(ctx) {
    const withCapabilities = ctx.values.capabilities === true;
    const withReplicas = ctx.values.replicas === true;
    const health = await adminCall<Health>(ctx, 'DescribeKeyStoreHealth', {
      CustomKeyStoreId: req(ctx.values, 'id'),
      ...(withCapabilities ? { IncludeCapabilities: true } : {}),
      ...(withReplicas ? { IncludeReplicas: true } : {}),
    });
    if (withReplicas) return printReplicas(ctx.out, health);
    const serving = health.Members.filter((m) => m.State !== 'UNAVAILABLE').length;
    const several = (health.Nodes ?? []).length > 1;
    if (withCapabilities) {
      printCapabilities(ctx.out, health);
      return 0;
    }
    ctx.out.print({
      json: health,
      table: {
        title:
          `${health.CustomKeyStoreId} (${health.CloudHsmClusterId}): ${health.ConnectionState}` +
          (health.Replication === null ? '' : `, replication ${health.Replication}, ${serving} of ${health.Members.length} members serving`),
        // One node: its members. Several: every node's members, each node connected with its own sessions.
        columns: [...(several ? ['NODE'] : []), 'MEMBER', 'STATE', 'SINCE', 'LAST CHECK', 'IN FLIGHT', 'SESSIONS', 'RESETS', 'NEXT ATTEMPT', 'REASON'],
        rows: several
          ? health.Nodes.flatMap((n) =>
              n.Members.length === 0
                ? [[n.Node, '-', n.ConnectionState, '-', '-', '-', '-', '-', '-', `no members open on this node (reported ${n.ReportedAt})`]]
                : n.Members.map((m) => [n.Node, ...memberRow(m)]),
            )
          : health.Members.map(memberRow),
      },
    });
    return health.ConnectionState === 'CONNECTED' && serving === 0 ? 1 : 0;
  },
};

function memberRow(m: MemberHealth): Array<string | number> {
  return [
    m.Name,
    m.State,
    m.Since,
    m.LastCheck === null ? '-' : `${m.LastCheck.Ok ? 'ok' : 'FAILED'} ${m.LastCheck.LatencyMs} ms`,
    m.Outstanding,
    m.Pool === null ? '-' : `${m.Pool.InUse}/${m.Pool.Limit} (+${m.Pool.Waiting} waiting)`,
    m.Resets,
    m.NextAttempt === null ? '-' : `${m.NextAttempt} (#${m.RecoveryAttempts})`,
    m.Reason ?? '',
  ];
}

/** One row per key: its replica count and holders; the title sums up. Exit status 1 when a key is below the quorum. */
function printReplicas(out: Printer, health: Health): number {
  const r = health.Replicas;
  if (r == null) {
    out.print({ json: health, table: { lines: [`${health.CustomKeyStoreId}: ${health.ConnectionState}; no replica count without a connection on this node`] } });
    return 1;
  }
  const unlisted = r.Members.filter((m) => !r.ListedMembers.includes(m));
  out.print({
    json: health,
    table: {
      title:
        `${health.CustomKeyStoreId} (${health.CloudHsmClusterId}): ${r.KeyCount} keys, ${r.AtFullStrength} on all ${r.Members.length} members, ` +
        `${r.BelowQuorum} below the quorum of ${r.Quorum}; ` +
        r.PerMember.map((m) => `${m.Name} holds ${m.Keys}`).join(', ') +
        (unlisted.length === 0 ? '' : ` (not open, counted as holding nothing: ${unlisted.join(', ')})`),
      columns: ['KEY ID', 'REPLICAS', 'MEMBERS', 'STATUS'],
      rows: r.Keys.map((k) => [
        k.KeyId ?? `(backing key ${k.BackingKeyId})`,
        `${k.Replicas}/${r.Members.length}`,
        k.Holders.join(',') || '-',
        k.BelowQuorum ? 'BELOW QUORUM' : k.Replicas === r.Members.length ? 'full' : 'under-replicated',
      ]),
    },
  });
  return r.BelowQuorum > 0 ? 1 : 0;
}

/** One row per key spec and usage, one column per member: `yes` (for SYMMETRIC_DEFAULT with its suite), or the mechanism its token lacks. */
function printCapabilities(out: Printer, health: Health): void {
  const first = health.Members.find((m) => m.Capabilities != null)?.Capabilities ?? [];
  out.print({
    json: health,
    table: {
      title: `${health.CustomKeyStoreId} (${health.CloudHsmClusterId}): ${health.ConnectionState}; what each member's token can serve`,
      columns: ['KEY SPEC', 'USAGE', ...health.Members.map((m) => m.Name.toUpperCase())],
      rows: first.map((row) => [
        row.KeySpec,
        row.KeyUsage,
        ...health.Members.map((m) => {
          const fact = m.Capabilities?.find((c) => c.KeySpec === row.KeySpec && c.KeyUsage === row.KeyUsage);
          if (fact === undefined) return '-';
          if (!fact.Supported) return `no: ${fact.MissingMechanism ?? ''}`;
          return fact.SymmetricSuite === undefined ? 'yes' : `yes (${fact.SymmetricSuite})`;
        }),
      ]),
    },
  });
}
