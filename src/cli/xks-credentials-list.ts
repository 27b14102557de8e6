// keybridge xks credentials-list: ListXksCredentials (never secrets).

import { adminCall } from './admin-client.js';
import { type Command, str } from './command.js';
import { checkUriPath, epochDate, uriPathOption, type XksCredentialEntry } from './xks-common.js';

export const xksCredentialsList: Command = {
  group: 'xks',
  name: 'credentials-list',
  summary: 'List the proxy\'s SigV4 credentials, without their secrets (ListXksCredentials).',
  description: 'Lists each credential\'s access key id, URI path and creation date. Secrets are never shown again after credentials-create.',
  options: [uriPathOption('Only the credentials of this URI path:')],
  validate: checkUriPath,
  async run(ctx) {
    const path = str(ctx.values, 'uri-path');
    const { Credentials } = await adminCall<{ Credentials: XksCredentialEntry[] }>(ctx, 'ListXksCredentials', path === undefined ? {} : { UriPath: path });
    ctx.out.print({
      json: { Credentials },
      table: { columns: ['ACCESS KEY ID', 'URI PATH', 'CREATED'], rows: Credentials.map((c) => [c.AccessKeyId, c.UriPath, epochDate(c.CreationDate)]) },
    });
    return 0;
  },
};
