// keybridge principals list: ListPrincipals (every page).

import { type Command, str } from './command.js';
import { listAllPrincipals } from './principals-common.js';

export const principalsList: Command = {
  group: 'principals',
  name: 'list',
  summary: 'List users and roles (ListPrincipals).',
  description: 'Lists the principals keybridge knows, optionally only those of one account.',
  options: [{ name: 'account', kind: 'string', metavar: 'ACCOUNT_ID', description: 'Only this account.' }],
  async run(ctx) {
    const principals = await listAllPrincipals(ctx, str(ctx.values, 'account'));
    ctx.out.print({
      json: { Principals: principals },
      table: {
        columns: ['ARN', 'TYPE', 'ACCOUNT', 'CREATED', 'POLICIES'],
        rows: principals.map((p) => [p.Arn, p.Type, p.AccountId, new Date(p.CreateDate * 1000), p.PolicyNames.join(',')]),
      },
    });
    return 0;
  },
};
