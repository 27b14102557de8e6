// keybridge xks keys-delete: DeleteXksKey.

import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';
import { checkKeyId, KEY_ID_OPTION } from './xks-common.js';

export const xksKeysDelete: Command = {
  group: 'xks',
  name: 'keys-delete',
  positional: 'id',
  summary: 'Destroy a disabled XKS key in its HSM (DeleteXksKey).',
  description:
    'Destroys the key\'s HSM object and its record. This cannot be undone: every ciphertext AWS KMS made with it ' +
    'becomes undecryptable. The key must be DISABLED first (keys-disable), which is the safeguard; an ENABLED key is ' +
    'refused with KMSInvalidStateException. The id may be given as `keybridge xks keys-delete ID` or with --id.',
  options: [KEY_ID_OPTION],
  validate: (values) => checkKeyId(values, 'id'),
  async run(ctx) {
    const id = req(ctx.values, 'id');
    await adminCall(ctx, 'DeleteXksKey', { XksKeyId: id });
    ctx.out.print({ json: { XksKeyId: id }, table: { lines: [`${id}: deleted`] } });
    return 0;
  },
};
