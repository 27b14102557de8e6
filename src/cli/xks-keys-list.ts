// keybridge xks keys-list: ListXksKeys.

import { adminCall } from './admin-client.js';
import { type Command, str } from './command.js';
import { checkUriPath, keysPrintable, uriPathOption, type XksKeyEntry } from './xks-common.js';

export const xksKeysList: Command = {
  group: 'xks',
  name: 'keys-list',
  summary: 'List the XKS proxy\'s keys (ListXksKeys).',
  description: 'Lists the keys AWS KMS can use through the proxy: id, URI path, status, usage and key store.',
  options: [uriPathOption('Only the keys under this URI path:')],
  validate: checkUriPath,
  async run(ctx) {
    const path = str(ctx.values, 'uri-path');
    const { XksKeys } = await adminCall<{ XksKeys: XksKeyEntry[] }>(ctx, 'ListXksKeys', path === undefined ? {} : { UriPath: path });
    ctx.out.print(keysPrintable(XksKeys));
    return 0;
  },
};
