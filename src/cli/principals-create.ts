// keybridge principals create: CreatePrincipal + CreateAccessKey, then an AWS CLI profile.

import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';
import { type Command, str } from './command.js';
import { type IssuedKey, type PrincipalEntry, PROFILE_NAME_OPTION, writeProfile } from './principals-common.js';

export const principalsCreate: Command = {
  group: 'principals',
  name: 'create',
  summary: 'Create a user or role with an access key, and write its profile to <data-dir>/credentials.',
  description:
    'Creates the principal (CreatePrincipal) in the given account — any account, so cross-account callers can be ' +
    'modelled — then an access key for it (CreateAccessKey), and writes the key as an AWS CLI profile into the ' +
    'credentials file of the data directory, next to the operator\'s profile. The secret is written only to that file ' +
    '(mode 0600), never printed. Then: AWS_SHARED_CREDENTIALS_FILE=<data-dir>/credentials AWS_PROFILE=<name> aws kms ...',
  options: [
    { name: 'account', kind: 'string', metavar: 'ACCOUNT_ID', required: true, description: 'The 12-digit account of the principal.' },
    { name: 'user', kind: 'string', metavar: 'NAME', description: 'Create an IAM-style user.' },
    { name: 'role', kind: 'string', metavar: 'NAME', description: 'Create a role (instead of --user).' },
    PROFILE_NAME_OPTION,
  ],
  validate(values) {
    if ((values.user === undefined) === (values.role === undefined)) throw new UsageError('give exactly one of --user and --role');
    if (!/^\d{12}$/.test(str(values, 'account')!)) throw new UsageError('--account must be a 12-digit account id');
  },
  async run(ctx) {
    const type = ctx.values.user !== undefined ? 'User' : 'Role';
    const name = str(ctx.values, type === 'User' ? 'user' : 'role')!;
    const profile = str(ctx.values, 'profile-name') ?? name;
    const { Principal } = await adminCall<{ Principal: PrincipalEntry }>(ctx, 'CreatePrincipal', {
      AccountId: str(ctx.values, 'account'),
      Type: type,
      Name: name,
    });
    const key = await adminCall<IssuedKey>(ctx, 'CreateAccessKey', { PrincipalArn: Principal.Arn });
    const file = writeProfile(ctx, profile, key);
    ctx.out.print({
      json: { Principal, AccessKeyId: key.AccessKeyId, Profile: profile, CredentialsFile: file },
      table: { lines: [`${Principal.Arn}: created`, `access key ${key.AccessKeyId} written to profile [${profile}] in ${file}`] },
    });
    return 0;
  },
};
