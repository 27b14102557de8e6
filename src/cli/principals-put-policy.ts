// keybridge principals put-policy: PutPrincipalPolicy.

import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';
import { type Command, req } from './command.js';
import { resolvePrincipal, validateWho, WHO_OPTIONS } from './principals-common.js';

export const principalsPutPolicy: Command = {
  group: 'principals',
  name: 'put-policy',
  summary: 'Attach or replace an IAM identity policy of a user or role (PutPrincipalPolicy).',
  description: 'Stores the policy document under the given name. --document takes JSON text or file://PATH, like the AWS CLI.',
  options: [
    ...WHO_OPTIONS,
    { name: 'name', kind: 'string', metavar: 'POLICY_NAME', required: true, description: 'The policy name.' },
    { name: 'document', kind: 'string', metavar: 'JSON|file://PATH', required: true, description: 'The policy document.' },
  ],
  validate: validateWho,
  async run(ctx) {
    const source = req(ctx.values, 'document');
    let document: string;
    if (source.startsWith('file://')) {
      try {
        document = readFileSync(source.slice('file://'.length), 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read --document ${source} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    } else {
      document = source;
    }
    const principal = await resolvePrincipal(ctx);
    const name = req(ctx.values, 'name');
    await adminCall(ctx, 'PutPrincipalPolicy', { PrincipalArn: principal.Arn, PolicyName: name, PolicyDocument: document });
    ctx.out.print({ json: { Arn: principal.Arn, PolicyName: name }, table: { lines: [`${principal.Arn}: policy ${name} stored`] } });
    return 0;
  },
};
