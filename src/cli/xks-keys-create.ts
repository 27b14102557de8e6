// keybridge xks keys-create: CreateXksKey.

import { adminCall } from './admin-client.js';
import { type Command, req, str } from './command.js';
import { checkKeyId, checkUriPath, keyPrintable, parseKeyUsage, uriPathOption, type XksKeyEntry } from './xks-common.js';

export const xksKeysCreate: Command = {
  group: 'xks',
  name: 'keys-create',
  summary: 'Create an AES-256 key for AWS KMS to use through the XKS proxy (CreateXksKey).',
  description:
    'Generates a non-extractable AES-256 key in the HSM of the default key store or of a connected custom key store, ' +
    'served under one XKS proxy URI path. Give its id (the "external key ID" of CreateKey with origin EXTERNAL_KEY_STORE) ' +
    'with --xks-key-id, or let keybridge choose a UUID. The key starts ENABLED.',
  options: [
    uriPathOption('The proxy URI path the key is served under:', true),
    { name: 'xks-key-id', kind: 'string', metavar: 'ID', description: 'The key id: 1-128 letters, digits, periods, underscores and hyphens. Default: a random UUID.' },
    { name: 'custom-key-store-id', kind: 'string', metavar: 'ID', description: 'Keep the key in this connected custom key store (cks-...). Default: the default key store.' },
    { name: 'description', kind: 'string', metavar: 'TEXT', description: 'Free text (at most 8192 characters).' },
    { name: 'key-usage', kind: 'string', metavar: 'ENCRYPT,DECRYPT', description: 'What AWS KMS may do with the key: ENCRYPT, DECRYPT or both (the default).' },
  ],
  validate(values) {
    checkUriPath(values);
    checkKeyId(values, 'xks-key-id');
    const usage = str(values, 'key-usage');
    if (usage !== undefined) parseKeyUsage(usage);
  },
  async run(ctx) {
    const usage = str(ctx.values, 'key-usage');
    const { XksKey } = await adminCall<{ XksKey: XksKeyEntry }>(ctx, 'CreateXksKey', {
      UriPath: req(ctx.values, 'uri-path'),
      ...optional('XksKeyId', str(ctx.values, 'xks-key-id')),
      ...optional('CustomKeyStoreId', str(ctx.values, 'custom-key-store-id')),
      ...optional('Description', str(ctx.values, 'description')),
      ...(usage === undefined ? {} : { KeyUsage: parseKeyUsage(usage) }),
    });
    ctx.out.print(keyPrintable(XksKey));
    return 0;
  },
};

function optional(member: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [member]: value };
}
