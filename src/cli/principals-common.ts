// What the principals commands share: naming a principal on the command line, and writing its
// access key into the shared-credentials file in the data directory.

import { join } from 'node:path';
import { writeCredentialsProfile } from '../auth/credentials-file.js';
import type { OptionSpec, OptionValues } from './args.js';
import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';
import { type CommandContext, str } from './command.js';

export interface PrincipalEntry {
  Arn: string;
  AccountId: string;
  Type: 'User' | 'Role';
  Name: string;
  Path: string;
  CreateDate: number;
  PolicyNames: string[];
}

export interface IssuedKey {
  AccessKeyId: string;
  SecretAccessKey: string;
}

export const WHO_OPTIONS: readonly OptionSpec[] = [
  { name: 'user', kind: 'string', metavar: 'NAME', description: 'The IAM-style user.' },
  { name: 'role', kind: 'string', metavar: 'NAME', description: 'The role (instead of --user).' },
  { name: 'account', kind: 'string', metavar: 'ACCOUNT_ID', description: 'Its 12-digit account. Default: the only principal of that name.' },
  { name: 'arn', kind: 'string', metavar: 'ARN', description: 'The principal ARN (instead of --user/--role and --account).' },
];

export const PROFILE_NAME_OPTION: OptionSpec = {
  name: 'profile-name',
  kind: 'string',
  metavar: 'NAME',
  description: 'Profile to write in <data-dir>/credentials. Default: the user or role name.',
};

/** Exactly one of --arn, --user, --role. */
export function validateWho(values: OptionValues): void {
  const given = ['arn', 'user', 'role'].filter((n) => values[n] !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one of --user, --role and --arn');
  if (values.arn !== undefined && values.account !== undefined) throw new UsageError('--account goes with --user or --role, not with --arn');
  const account = str(values, 'account');
  if (account !== undefined && !/^\d{12}$/.test(account)) throw new UsageError('--account must be a 12-digit account id');
}

/** The ARN the options name, looking the name up when --account is not given. */
export async function resolvePrincipal(ctx: CommandContext): Promise<PrincipalEntry> {
  const arn = str(ctx.values, 'arn');
  if (arn !== undefined) {
    const { Principal } = await adminCall<{ Principal: PrincipalEntry }>(ctx, 'GetPrincipal', { PrincipalArn: arn });
    return Principal;
  }
  const type = ctx.values.user !== undefined ? 'User' : 'Role';
  const name = str(ctx.values, type === 'User' ? 'user' : 'role')!;
  const account = str(ctx.values, 'account');
  const matches = (await listAllPrincipals(ctx, account)).filter((p) => p.Type === type && p.Name === name);
  if (matches.length === 0) throw new Error(`no ${type.toLowerCase()} named ${name}${account ? ` in account ${account}` : ''}`);
  if (matches.length > 1) throw new UsageError(`${matches.length} accounts have a ${type.toLowerCase()} named ${name}; give --account`);
  return matches[0]!;
}

export async function listAllPrincipals(ctx: CommandContext, account: string | undefined): Promise<PrincipalEntry[]> {
  const all: PrincipalEntry[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await adminCall<{ Principals: PrincipalEntry[]; Truncated: boolean; NextMarker?: string }>(ctx, 'ListPrincipals', {
      ...(account ? { AccountId: account } : {}),
      ...(marker ? { Marker: marker } : {}),
    });
    all.push(...page.Principals);
    if (!page.Truncated || !page.NextMarker) return all;
    marker = page.NextMarker;
  }
}

/** Writes (or replaces) the profile; other profiles stay as they were; the file is mode 0600. */
export function writeProfile(ctx: CommandContext, profile: string, key: IssuedKey): string {
  const file = join(ctx.dataDir(), 'credentials');
  writeCredentialsProfile(file, profile, { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey });
  return file;
}
