// keybridge keystore create: CreateCustomKeyStore for a PKCS#11 cluster (type AWS_CLOUDHSM).

import { CreateCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { readValueArgument } from './args.js';
import { type Command, req } from './command.js';

export const keystoreCreate: Command = {
  group: 'keystore',
  name: 'create',
  summary: 'Create a custom key store for a cluster (CreateCustomKeyStore); prints its id.',
  description:
    'Creates a custom key store (type AWS_CLOUDHSM) backed by the PKCS#11 cluster CLUSTER_ID and prints the new ' +
    'CustomKeyStoreId. The store starts DISCONNECTED: run `keybridge keystore connect` next. ' +
    'CERT and PASSWORD may be given inline or as file://PATH (the file is read; one trailing newline ' +
    'of a password file is dropped). Prefer file:// for the password: command lines are visible to other users.',
  options: [
    { name: 'name', kind: 'string', metavar: 'NAME', required: true, description: 'Friendly name of the store (1-256 characters), unique.' },
    { name: 'cluster-id', kind: 'string', metavar: 'CLUSTER_ID', required: true, description: 'The cluster, as defined in hsm-config/clusters (cluster-...).' },
    {
      name: 'trust-anchor-certificate',
      kind: 'string',
      metavar: 'CERT',
      required: true,
      description: "The cluster's trust anchor certificate: file://PATH or the PEM text.",
    },
    {
      name: 'key-store-password',
      kind: 'string',
      metavar: 'PASSWORD',
      required: true,
      description: 'Password (PIN) of the crypto user on the cluster (7-32 characters): file://PATH or the value.',
    },
  ],
  async run(ctx) {
    const trustAnchor = readValueArgument('trust-anchor-certificate', req(ctx.values, 'trust-anchor-certificate'));
    const password = readValueArgument('key-store-password', req(ctx.values, 'key-store-password'), { dropTrailingNewline: true });
    const res = await ctx.kms().send(
      new CreateCustomKeyStoreCommand({
        CustomKeyStoreName: req(ctx.values, 'name'),
        CloudHsmClusterId: req(ctx.values, 'cluster-id'),
        TrustAnchorCertificate: trustAnchor,
        KeyStorePassword: password,
      }),
    );
    ctx.out.print({ json: { CustomKeyStoreId: res.CustomKeyStoreId }, table: { lines: [res.CustomKeyStoreId ?? ''] } });
    return 0;
  },
};
