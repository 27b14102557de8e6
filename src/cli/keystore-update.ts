// keybridge keystore update: UpdateCustomKeyStore, for either store type.

import { UpdateCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { readValueArgument, UsageError } from './args.js';
import { type Command, req, str } from './command.js';
import { checkXksOptions, givenXksOptions, listOptions, readXksProxy, XKS_ENDPOINT_OPTION, xksProxyOptions } from './keystore-common.js';

const CLOUDHSM_UPDATE_OPTIONS = ['key-store-password', 'cluster-id'] as const;

export const keystoreUpdate: Command = {
  group: 'keystore',
  name: 'update',
  summary: "Rename a custom key store, or change its password, cluster or XKS proxy settings (UpdateCustomKeyStore).",
  description:
    'Changes the store. The name can change at any time. ' +
    'AWS_CLOUDHSM stores: the password and the cluster only while the store is DISCONNECTED (the new cluster must be ' +
    'related to the old one). PASSWORD may be file://PATH (one trailing newline dropped); it tells keybridge the crypto ' +
    'user\'s current PIN and does not change it on the cluster. ' +
    'EXTERNAL_KEY_STORE stores: the proxy URI path and credential at any time (a connected store uses a new credential ' +
    'from the next request), the endpoint only while DISCONNECTED; keybridge checks the proxy with the new settings ' +
    'before it saves them. The path and credential come from --xks-proxy-config-file or from --xks-proxy-uri-path ' +
    'and/or --xks-proxy-credential; they do not change the credential on the proxy. ' +
    'Options of one type are refused for a store of the other (by the service).',
  options: [
    { name: 'id', kind: 'string', metavar: 'ID', required: true, description: 'The store (cks-...).' },
    { name: 'new-name', kind: 'string', metavar: 'NAME', description: 'New friendly name, unique.' },
    { name: 'key-store-password', kind: 'string', metavar: 'PASSWORD', description: 'AWS_CLOUDHSM: New crypto-user password: file://PATH or the value.' },
    { name: 'cluster-id', kind: 'string', metavar: 'CLUSTER_ID', description: 'AWS_CLOUDHSM: New (related) cluster.' },
    ...xksProxyOptions(true),
  ],
  validate(values) {
    const xks = givenXksOptions(values);
    const cloudHsm = CLOUDHSM_UPDATE_OPTIONS.filter((o) => values[o] !== undefined).map((o) => `--${o}`);
    if (str(values, 'new-name') === undefined && xks.length === 0 && cloudHsm.length === 0) {
      throw new UsageError(
        'nothing to update: give --new-name, --key-store-password or --cluster-id (AWS_CLOUDHSM), or --xks-proxy-uri-endpoint, ' +
          '--xks-proxy-config-file, --xks-proxy-uri-path or --xks-proxy-credential (EXTERNAL_KEY_STORE)',
      );
    }
    if (xks.length > 0 && cloudHsm.length > 0) {
      throw new UsageError(`${listOptions(cloudHsm)} (AWS_CLOUDHSM) and ${listOptions(xks)} (EXTERNAL_KEY_STORE) cannot be combined: a store is of one type`);
    }
    checkXksOptions(values, false);
  },
  async run(ctx) {
    const id = req(ctx.values, 'id');
    const passwordArg = str(ctx.values, 'key-store-password');
    const password = passwordArg === undefined ? undefined : readValueArgument('key-store-password', passwordArg, { dropTrailingNewline: true });
    const { uriPath, credential } = readXksProxy(ctx.values);
    await ctx.kms().send(
      new UpdateCustomKeyStoreCommand({
        CustomKeyStoreId: id,
        NewCustomKeyStoreName: str(ctx.values, 'new-name'),
        KeyStorePassword: password,
        CloudHsmClusterId: str(ctx.values, 'cluster-id'),
        XksProxyUriEndpoint: str(ctx.values, XKS_ENDPOINT_OPTION),
        XksProxyUriPath: uriPath,
        XksProxyAuthenticationCredential: credential,
      }),
    );
    ctx.out.print({ json: {}, table: { lines: [`${id}: updated`] } });
    return 0;
  },
};
