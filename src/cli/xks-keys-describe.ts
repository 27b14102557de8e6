// keybridge xks keys-describe: DescribeXksKey.

import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';
import { checkKeyId, KEY_ID_OPTION, keyPrintable, type XksKeyEntry } from './xks-common.js';

export const xksKeysDescribe: Command = {
  group: 'xks',
  name: 'keys-describe',
  positional: 'id',
  summary: 'Show one XKS key (DescribeXksKey).',
  description: 'Shows the key\'s URI path, status, usage, key store, creation date and description. The id may be given as `keybridge xks keys-describe ID` or with --id.',
  options: [KEY_ID_OPTION],
  validate: (values) => checkKeyId(values, 'id'),
  async run(ctx) {
    const { XksKey } = await adminCall<{ XksKey: XksKeyEntry }>(ctx, 'DescribeXksKey', { XksKeyId: req(ctx.values, 'id') });
    ctx.out.print(keyPrintable(XksKey));
    return 0;
  },
};
