// keybridge xks keys-disable: DisableXksKey.

import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';
import { checkKeyId, KEY_ID_OPTION, keyPrintable, type XksKeyEntry } from './xks-common.js';

export const xksKeysDisable: Command = {
  group: 'xks',
  name: 'keys-disable',
  positional: 'id',
  summary: 'Stop AWS KMS from encrypting and decrypting with an XKS key (DisableXksKey).',
  description:
    'Sets the key DISABLED: from the next request on, the proxy refuses to encrypt or decrypt with it (its metadata ' +
    'still answers, with status DISABLED). Reversible with keys-enable. The id may be given as ' +
    '`keybridge xks keys-disable ID` or with --id.',
  options: [KEY_ID_OPTION],
  validate: (values) => checkKeyId(values, 'id'),
  async run(ctx) {
    const { XksKey } = await adminCall<{ XksKey: XksKeyEntry }>(ctx, 'DisableXksKey', { XksKeyId: req(ctx.values, 'id') });
    ctx.out.print(keyPrintable(XksKey));
    return 0;
  },
};
