// What the key store view asks the server: every custom key store (all pages), and one store's
// member health (KeybridgeAdmin.DescribeKeyStoreHealth, src/admin/key-store-health-wire.ts).

import { type CustomKeyStoresListEntry, DescribeCustomKeyStoresCommand, type KMSClient } from '@aws-sdk/client-kms';

export type Store = CustomKeyStoresListEntry;

/** States in which the server is still working on the store: the list watches them settle. */
export const TRANSITIONAL: ReadonlySet<string> = new Set(['CONNECTING', 'DISCONNECTING']);

export async function allStores(kms: KMSClient): Promise<Store[]> {
  const stores: Store[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new DescribeCustomKeyStoresCommand({ Limit: 100, ...(marker === undefined ? {} : { Marker: marker }) }));
    stores.push(...(page.CustomKeyStores ?? []));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker !== undefined);
  return stores;
}

export interface MemberHealth {
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

export interface NodeHealth {
  readonly Node: string;
  readonly ReportedAt: string;
  readonly ConnectionState: string;
  readonly Members: readonly MemberHealth[];
}

export interface StoreHealth {
  readonly CustomKeyStoreId: string;
  readonly Node: string;
  readonly ConnectionState: string;
  readonly Replication: string | null;
  readonly Members: readonly MemberHealth[];
  readonly Nodes?: readonly NodeHealth[];
}
