// keybridge keys list: ListKeys (every page), then DescribeKey for each key.

import { DescribeKeyCommand, type KeyMetadata, type KMSClient, ListKeysCommand, NotFoundException } from '@aws-sdk/client-kms';
import type { Command } from './command.js';

/** DescribeKey calls in flight at once. */
const CONCURRENCY = 8;

export async function listKeyIds(kms: KMSClient): Promise<string[]> {
  const ids: string[] = [];
  const seen = new Set<string>();
  let marker: string | undefined;
  for (;;) {
    const page = await kms.send(new ListKeysCommand({ Marker: marker }));
    for (const k of page.Keys ?? []) if (k.KeyId) ids.push(k.KeyId);
    if (!page.Truncated || !page.NextMarker) return ids;
    if (seen.has(page.NextMarker)) throw new Error(`the service returned the same NextMarker twice (${page.NextMarker})`);
    seen.add(page.NextMarker);
    marker = page.NextMarker;
  }
}

/** KeyMetadata for every id, in the same order; keys deleted in the meantime are left out. */
export async function describeKeys(kms: KMSClient, ids: readonly string[]): Promise<KeyMetadata[]> {
  const results: (KeyMetadata | undefined)[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      try {
        results[i] = (await kms.send(new DescribeKeyCommand({ KeyId: ids[i] }))).KeyMetadata;
      } catch (err) {
        if (!(err instanceof NotFoundException)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ids.length) }, worker));
  return results.filter((m): m is KeyMetadata => m !== undefined);
}

export const keysList: Command = {
  group: 'keys',
  name: 'list',
  summary: 'List KMS keys with their state and custom key store (ListKeys + DescribeKey).',
  description: 'Lists every KMS key: its id, ARN, state, description and, for keys in a custom key store, the store.',
  options: [],
  async run(ctx) {
    const kms = ctx.kms();
    const keys = await describeKeys(kms, await listKeyIds(kms));
    ctx.out.print({
      json: { Keys: keys },
      table: {
        columns: ['KeyId', 'Arn', 'KeyState', 'Description', 'CustomKeyStoreId'],
        rows: keys.map((k) => [k.KeyId, k.Arn, k.KeyState, k.Description, k.CustomKeyStoreId]),
      },
    });
    return 0;
  },
};
