// keybridge xks keys-enable: EnableXksKey.

import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';
import { checkKeyId, KEY_ID_OPTION, keyPrintable, type XksKeyEntry } from './xks-common.js';

export const xksKeysEnable: Command = {
  group: 'xks',
  name: 'keys-enable',
  positional: 'id',
  summary: 'Let AWS KMS encrypt and decrypt with an XKS key again (EnableXksKey).',
  description: 'Sets the key ENABLED; the proxy serves it at once. The id may be given as `keybridge xks keys-enable ID` or with --id.',
  options: [KEY_ID_OPTION],
  validate: (values) => checkKeyId(values, 'id'),
  async run(ctx) {
    const { XksKey } = await adminCall<{ XksKey: XksKeyEntry }>(ctx, 'EnableXksKey', { XksKeyId: req(ctx.values, 'id') });
    ctx.out.print(keyPrintable(XksKey));
    return 0;
  },
};
