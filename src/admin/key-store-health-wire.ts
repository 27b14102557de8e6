// A custom key store's health as this node sees it, in the admin API's shape: what
// DescribeKeyStoreHealth answers for this node, and what this node reports for the others to show
// (services/node-reports.ts).

import type { CustomKeyStoreRecord } from '../domain/custom-key-store.js';
import type { KeyStores } from '../ports/key-stores.js';

export interface MemberHealthWire {
  readonly Name: string;
  readonly TokenLabel: string;
  readonly State: string;
  readonly Reason: string | null;
  readonly Since: string;
  readonly Outstanding: number;
  readonly Pool: { readonly InUse: number; readonly Idle: number; readonly Waiting: number; readonly Limit: number } | null;
  readonly LastCheck: { readonly At: string; readonly Ok: boolean; readonly LatencyMs: number } | null;
  readonly Resets: number;
  readonly NextAttempt: string | null;
  readonly RecoveryAttempts: number;
}

export interface KeyStoreHealthWire {
  readonly ConnectionState: string;
  readonly Replication: string | null;
  readonly Members: MemberHealthWire[];
}

export function keyStoreHealthWire(record: CustomKeyStoreRecord, keyStores: KeyStores): KeyStoreHealthWire {
  const health = keyStores.health(record.id);
  return {
    ConnectionState: keyStores.stateOf(record),
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
    })),
  };
}
