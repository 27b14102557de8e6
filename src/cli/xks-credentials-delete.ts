// keybridge xks credentials-delete: DeleteXksCredential.

import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';

export const xksCredentialsDelete: Command = {
  group: 'xks',
  name: 'credentials-delete',
  positional: 'access-key-id',
  summary: 'Delete a proxy SigV4 credential; requests signed with it fail at once (DeleteXksCredential).',
  description:
    'Deletes the credential: from the next request on, the proxy refuses requests signed with it. Update the external ' +
    'key store in AWS KMS to the other credential first. The access key id may be given as ' +
    '`keybridge xks credentials-delete ACCESS_KEY_ID` or with --access-key-id.',
  options: [
    {
      name: 'access-key-id',
      kind: 'string',
      metavar: 'ACCESS_KEY_ID',
      required: true,
      description: 'The credential\'s access key id (XKS...), as credentials-list shows it. May also be given as the argument after the command.',
    },
  ],
  async run(ctx) {
    const id = req(ctx.values, 'access-key-id');
    await adminCall(ctx, 'DeleteXksCredential', { AccessKeyId: id });
    ctx.out.print({ json: { AccessKeyId: id }, table: { lines: [`${id}: deleted`] } });
    return 0;
  },
};
