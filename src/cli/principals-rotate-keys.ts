// keybridge principals rotate-keys: RotateAccessKey, then rewrite the profile.

import { adminCall } from './admin-client.js';
import { type Command, str } from './command.js';
import { type IssuedKey, PROFILE_NAME_OPTION, resolvePrincipal, validateWho, WHO_OPTIONS, writeProfile } from './principals-common.js';

export const principalsRotateKeys: Command = {
  group: 'principals',
  name: 'rotate-keys',
  summary: 'Replace a principal\'s access keys with a new one and rewrite its profile (RotateAccessKey).',
  description: 'Creates a new access key, deletes the old ones, and writes the new key into the profile in <data-dir>/credentials.',
  options: [...WHO_OPTIONS, PROFILE_NAME_OPTION],
  validate: validateWho,
  async run(ctx) {
    const principal = await resolvePrincipal(ctx);
    const key = await adminCall<IssuedKey & { DeletedAccessKeyIds: string[] }>(ctx, 'RotateAccessKey', { PrincipalArn: principal.Arn });
    const profile = str(ctx.values, 'profile-name') ?? principal.Name;
    const file = writeProfile(ctx, profile, key);
    ctx.out.print({
      json: { Arn: principal.Arn, AccessKeyId: key.AccessKeyId, DeletedAccessKeyIds: key.DeletedAccessKeyIds, Profile: profile, CredentialsFile: file },
      table: { lines: [`${principal.Arn}: new access key ${key.AccessKeyId} written to profile [${profile}] in ${file}`, ...key.DeletedAccessKeyIds.map((id) => `deleted access key ${id}`)] },
    });
    return 0;
  },
};
