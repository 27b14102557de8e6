// keybridge principals delete: DeletePrincipal.

import { adminCall } from './admin-client.js';
import type { Command } from './command.js';
import { resolvePrincipal, validateWho, WHO_OPTIONS } from './principals-common.js';

export const principalsDelete: Command = {
  group: 'principals',
  name: 'delete',
  summary: 'Delete a user or role with its policies and access keys (DeletePrincipal).',
  description:
    'Deletes the principal; its access keys stop authenticating at once. A profile left in a credentials file ' +
    'stays there but is refused by the server (deleted key ids are remembered).',
  options: WHO_OPTIONS,
  validate: validateWho,
  async run(ctx) {
    const principal = await resolvePrincipal(ctx);
    await adminCall(ctx, 'DeletePrincipal', { PrincipalArn: principal.Arn });
    ctx.out.print({ json: { Arn: principal.Arn }, table: { lines: [`${principal.Arn}: deleted`] } });
    return 0;
  },
};
