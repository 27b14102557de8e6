// keybridge keystore disconnect: DisconnectCustomKeyStore.

import { DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { type Command, req } from './command.js';

export const keystoreDisconnect: Command = {
  group: 'keystore',
  name: 'disconnect',
  summary: 'Disconnect a custom key store from its cluster (DisconnectCustomKeyStore).',
  description:
    'Disconnects the store; it goes DISCONNECTING, then DISCONNECTED. While it is not CONNECTED its keys are ' +
    'Unavailable for cryptographic operations. Follow it with `keybridge keystore wait --id ID --state DISCONNECTED`.',
  options: [{ name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' }],
  async run(ctx) {
    const id = req(ctx.values, 'id');
    await ctx.kms().send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id }));
    ctx.out.print({ json: {}, table: { lines: [`${id}: disconnecting`] } });
    return 0;
  },
};
