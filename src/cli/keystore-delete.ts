// keybridge keystore delete: DeleteCustomKeyStore.

import { DeleteCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { type Command, req } from './command.js';

export const keystoreDelete: Command = {
  group: 'keystore',
  name: 'delete',
  summary: 'Delete a disconnected custom key store that holds no keys (DeleteCustomKeyStore).',
  description:
    'Deletes the store. It must be DISCONNECTED and hold no KMS keys (schedule their deletion and let the ' +
    'waiting period pass first). The cluster and its objects are not touched.',
  options: [{ name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' }],
  async run(ctx) {
    const id = req(ctx.values, 'id');
    await ctx.kms().send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    ctx.out.print({ json: {}, table: { lines: [`${id}: deleted`] } });
    return 0;
  },
};
