// keybridge keystore update: UpdateCustomKeyStore.

import { UpdateCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { readValueArgument, UsageError } from './args.js';
import { type Command, req, str } from './command.js';

export const keystoreUpdate: Command = {
  group: 'keystore',
  name: 'update',
  summary: "Rename a custom key store, or change its password or cluster (UpdateCustomKeyStore).",
  description:
    'Changes the store. The name can change at any time; the password and the cluster only while the store is ' +
    'DISCONNECTED (the new cluster must be related to the old one). PASSWORD may be file://PATH (one trailing ' +
    'newline dropped); it tells keybridge the crypto user\'s current PIN and does not change it on the cluster.',
  options: [
    { name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' },
    { name: 'new-name', kind: 'string', metavar: 'NAME', description: 'New friendly name, unique.' },
    { name: 'key-store-password', kind: 'string', metavar: 'PASSWORD', description: 'New crypto-user password: file://PATH or the value.' },
    { name: 'cluster-id', kind: 'string', metavar: 'CLUSTER_ID', description: 'New (related) cluster.' },
  ],
  validate(values) {
    if (['new-name', 'key-store-password', 'cluster-id'].every((o) => str(values, o) === undefined)) {
      throw new UsageError('nothing to update: give --new-name, --key-store-password or --cluster-id');
    }
  },
  async run(ctx) {
    const id = req(ctx.values, 'id');
    const passwordArg = str(ctx.values, 'key-store-password');
    const password = passwordArg === undefined ? undefined : readValueArgument('key-store-password', passwordArg, { dropTrailingNewline: true });
    await ctx.kms().send(
      new UpdateCustomKeyStoreCommand({
        CustomKeyStoreId: id,
        NewCustomKeyStoreName: str(ctx.values, 'new-name'),
        KeyStorePassword: password,
        CloudHsmClusterId: str(ctx.values, 'cluster-id'),
      }),
    );
    ctx.out.print({ json: {}, table: { lines: [`${id}: updated`] } });
    return 0;
  },
};
