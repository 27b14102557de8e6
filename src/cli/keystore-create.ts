// keybridge keystore create: CreateCustomKeyStore, for a PKCS#11 cluster (type AWS_CLOUDHSM, the
// default) or for an XKS proxy keybridge calls (type EXTERNAL_KEY_STORE, docs/xks.md "Face 2").

import { CreateCustomKeyStoreCommand, type CreateCustomKeyStoreCommandInput } from '@aws-sdk/client-kms';
import { type OptionValues, readValueArgument, UsageError } from './args.js';
import { type Command, req, str } from './command.js';
import {
  checkXksOptions, CLOUDHSM_CREATE_OPTIONS, givenXksOptions, listOptions, readXksProxy, STORE_TYPES, type StoreType,
  XKS_CONNECTIVITY_OPTION, XKS_ENDPOINT_OPTION, xksProxyOptions,
} from './keystore-common.js';

function typeOf(values: OptionValues): StoreType {
  return (str(values, 'type') ?? 'AWS_CLOUDHSM') as StoreType;
}

export const keystoreCreate: Command = {
  group: 'keystore',
  name: 'create',
  summary: 'Create a custom key store for a cluster or an XKS proxy (CreateCustomKeyStore); prints its id.',
  description:
    'Creates a custom key store and prints the new CustomKeyStoreId. The store starts DISCONNECTED: run ' +
    '`keybridge keystore connect` next. ' +
    'With --type AWS_CLOUDHSM (the default) the store is backed by the PKCS#11 cluster CLUSTER_ID and needs ' +
    '--cluster-id, --trust-anchor-certificate and --key-store-password; CERT and PASSWORD may be given inline or as ' +
    'file://PATH (the file is read; one trailing newline of a password file is dropped). ' +
    'With --type EXTERNAL_KEY_STORE the store is an XKS proxy that keybridge calls (docs/xks.md): it needs ' +
    '--xks-proxy-uri-endpoint, and either --xks-proxy-config-file (the proxy configuration file of the AWS KMS ' +
    'console, as `keybridge xks credentials-create --config-file` writes it) or --xks-proxy-uri-path with ' +
    '--xks-proxy-credential; keybridge checks the proxy (GetHealthStatus) before it saves the store. ' +
    'Options of the other type are refused. Prefer file:// for passwords and secrets: command lines are visible to other users.',
  options: [
    { name: 'name', kind: 'string', metavar: 'NAME', required: true, description: 'Friendly name of the store (1-256 characters), unique.' },
    {
      name: 'type',
      kind: 'string',
      metavar: 'TYPE',
      choices: STORE_TYPES,
      description: 'AWS_CLOUDHSM (the default: a PKCS#11 cluster) or EXTERNAL_KEY_STORE (an XKS proxy).',
    },
    { name: 'cluster-id', kind: 'string', metavar: 'CLUSTER_ID', description: 'AWS_CLOUDHSM: (required) The cluster, as defined in hsm-config/clusters (cluster-...).' },
    {
      name: 'trust-anchor-certificate',
      kind: 'string',
      metavar: 'CERT',
      description: "AWS_CLOUDHSM: (required) The cluster's trust anchor certificate: file://PATH or the PEM text.",
    },
    {
      name: 'key-store-password',
      kind: 'string',
      metavar: 'PASSWORD',
      description: 'AWS_CLOUDHSM: (required) Password (PIN) of the crypto user on the cluster (7-32 characters): file://PATH or the value.',
    },
    ...xksProxyOptions(false),
  ],
  validate(values) {
    const type = typeOf(values);
    if (type === 'AWS_CLOUDHSM') {
      const xks = givenXksOptions(values);
      if (xks.length > 0) throw new UsageError(`${listOptions(xks)} ${xks.length > 1 ? 'are' : 'is'} only for --type EXTERNAL_KEY_STORE`);
      const missing = CLOUDHSM_CREATE_OPTIONS.filter((o) => values[o] === undefined);
      if (missing.length > 0) {
        throw new UsageError(`missing required option${missing.length > 1 ? 's' : ''} ${missing.map((o) => `--${o}`).join(', ')}`);
      }
      return;
    }
    const cloudHsm = CLOUDHSM_CREATE_OPTIONS.filter((o) => values[o] !== undefined).map((o) => `--${o}`);
    if (cloudHsm.length > 0) throw new UsageError(`${listOptions(cloudHsm)} ${cloudHsm.length > 1 ? 'are' : 'is'} only for --type AWS_CLOUDHSM`);
    if (str(values, XKS_ENDPOINT_OPTION) === undefined) throw new UsageError(`missing required option --${XKS_ENDPOINT_OPTION} (for --type EXTERNAL_KEY_STORE)`);
    checkXksOptions(values, true);
  },
  async run(ctx) {
    const name = req(ctx.values, 'name');
    let input: CreateCustomKeyStoreCommandInput;
    if (typeOf(ctx.values) === 'AWS_CLOUDHSM') {
      const trustAnchor = readValueArgument('trust-anchor-certificate', req(ctx.values, 'trust-anchor-certificate'));
      const password = readValueArgument('key-store-password', req(ctx.values, 'key-store-password'), { dropTrailingNewline: true });
      // No CustomKeyStoreType: AWS_CLOUDHSM is the API's default.
      input = { CustomKeyStoreName: name, CloudHsmClusterId: req(ctx.values, 'cluster-id'), TrustAnchorCertificate: trustAnchor, KeyStorePassword: password };
    } else {
      const { uriPath, credential } = readXksProxy(ctx.values);
      input = {
        CustomKeyStoreName: name,
        CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
        XksProxyConnectivity: (str(ctx.values, XKS_CONNECTIVITY_OPTION) ?? 'PUBLIC_ENDPOINT') as 'PUBLIC_ENDPOINT',
        XksProxyUriEndpoint: req(ctx.values, XKS_ENDPOINT_OPTION),
        XksProxyUriPath: uriPath,
        XksProxyAuthenticationCredential: credential,
      };
    }
    const res = await ctx.kms().send(new CreateCustomKeyStoreCommand(input));
    ctx.out.print({ json: { CustomKeyStoreId: res.CustomKeyStoreId }, table: { lines: [res.CustomKeyStoreId ?? ''] } });
    return 0;
  },
};
