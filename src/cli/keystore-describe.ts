// keybridge keystore describe: DescribeCustomKeyStores, every page.

import { type CustomKeyStoresListEntry, DescribeCustomKeyStoresCommand, type KMSClient } from '@aws-sdk/client-kms';
import { UsageError } from './args.js';
import { type Command, str } from './command.js';
import { storeTarget, storeType } from './keystore-common.js';
import type { Printable } from './output.js';

/** The table for AWS_CLOUDHSM stores only (as before external key stores existed). */
/** Target: a CloudHSM-type store's cluster id, or an external key store's proxy (https://host/path). */
export const STORE_COLUMNS = ['Id', 'Name', 'Type', 'Target', 'ConnectionState', 'ConnectionErrorCode', 'CreationDate'] as const;

export function storeRow(s: CustomKeyStoresListEntry) {
  return [s.CustomKeyStoreId, s.CustomKeyStoreName, storeType(s), storeTarget(s), s.ConnectionState, s.ConnectionErrorCode, s.CreationDate];
}

/** JSON: the entries as the service gives them; the table: one row per store. */
export function storesPrintable(stores: readonly CustomKeyStoresListEntry[]): Printable {
  return { json: { CustomKeyStores: stores }, table: { columns: STORE_COLUMNS, rows: stores.map(storeRow) } };
}

/** All stores matching the filter, following NextMarker while the service says Truncated. */
export async function describeStores(kms: KMSClient, filter: { id?: string; name?: string }): Promise<CustomKeyStoresListEntry[]> {
  const stores: CustomKeyStoresListEntry[] = [];
  const seen = new Set<string>();
  let marker: string | undefined;
  for (;;) {
    const page = await kms.send(
      new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: filter.id, CustomKeyStoreName: filter.name, Marker: marker }),
    );
    stores.push(...(page.CustomKeyStores ?? []));
    if (!page.Truncated || !page.NextMarker) return stores;
    if (seen.has(page.NextMarker)) throw new Error(`the service returned the same NextMarker twice (${page.NextMarker})`);
    seen.add(page.NextMarker);
    marker = page.NextMarker;
  }
}

export const keystoreDescribe: Command = {
  group: 'keystore',
  name: 'describe',
  summary: 'Show custom key stores and their connection state (DescribeCustomKeyStores).',
  description:
    'Shows one custom key store (--id or --name) or, with neither, all of them. While every store shown is an ' +
    'AWS_CLOUDHSM store, the table has a ClusterId column; when any is an EXTERNAL_KEY_STORE, it has Type and Target ' +
    'instead (Target: the cluster id, or the proxy\'s https://HOST/PATH). --output json shows the full entries ' +
    '(CustomKeyStoreType, CloudHsmClusterId and TrustAnchorCertificate, or XksProxyConfiguration).',
  options: [
    { name: 'id', kind: 'string', metavar: 'ID', description: 'Only this store (cks-...).' },
    { name: 'name', kind: 'string', metavar: 'NAME', description: 'Only the store with this name.' },
  ],
  validate(values) {
    if (str(values, 'id') !== undefined && str(values, 'name') !== undefined) throw new UsageError('give --id or --name, not both');
  },
  async run(ctx) {
    const stores = await describeStores(ctx.kms(), { id: str(ctx.values, 'id'), name: str(ctx.values, 'name') });
    ctx.out.print(storesPrintable(stores));
    return 0;
  },
};
