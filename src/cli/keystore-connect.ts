// keybridge keystore connect: ConnectCustomKeyStore (asynchronous; see `keystore wait`).

import { ConnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { type Command, req } from './command.js';

export const keystoreConnect: Command = {
  group: 'keystore',
  name: 'connect',
  summary: 'Start connecting a custom key store to its cluster (ConnectCustomKeyStore).',
  description:
    'Asks keybridge to connect the store to its cluster and returns at once; the store goes CONNECTING, then ' +
    'CONNECTED or FAILED. Follow it with `keybridge keystore wait --id ID --state CONNECTED`. ' +
    'A FAILED store must be disconnected before it can be connected again.',
  options: [{ name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' }],
  async run(ctx) {
    const id = req(ctx.values, 'id');
    await ctx.kms().send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    ctx.out.print({ json: {}, table: { lines: [`${id}: connecting`] } });
    return 0;
  },
};
