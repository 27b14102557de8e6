// keybridge xks credentials-create: CreateXksCredential, written to an AWS KMS proxy configuration
// file (--config-file) or, without it, shown once on standard output.

import { closeSync, fchmodSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';
import { type Command, type CommandContext, req, str } from './command.js';
import { isoSeconds } from './output.js';
import { checkUriPath, epochDate, type IssuedXksCredential, uriPathOption } from './xks-common.js';

export const xksCredentialsCreate: Command = {
  group: 'xks',
  name: 'credentials-create',
  summary: 'Create a SigV4 credential for AWS KMS to sign proxy requests with (CreateXksCredential).',
  description:
    'Creates an access key id and secret for one proxy URI path (at most two per path, so one can be replaced while ' +
    'the other is in use; a third is refused with LimitExceededException). keybridge keeps the secret only sealed and ' +
    'cannot show it again. With --config-file, the secret is written only to that file, never printed: it is the ' +
    'proxy configuration file the AWS KMS console takes when creating an external key store ' +
    '({"XksProxyUriPath": ..., "XksProxyAuthenticationCredential": {"AccessKeyId": ..., "RawSecretAccessKey": ...}}), ' +
    'created with mode 0600; an existing file is never overwritten. Without --config-file, the access key id and the ' +
    'secret are printed once on standard output (for CreateCustomKeyStore or UpdateCustomKeyStore with ' +
    '--xks-proxy-authentication-credential), with a reminder on standard error; keep that output out of logs.',
  options: [
    uriPathOption('The proxy URI path the credential signs for (AWS KMS\'s XksProxyUriPath):', true),
    { name: 'config-file', kind: 'string', metavar: 'FILE', description: 'Write the proxy configuration file here (mode 0600; must not exist) instead of printing the secret.' },
  ],
  validate: checkUriPath,
  async run(ctx) {
    const uriPath = req(ctx.values, 'uri-path');
    const configFile = str(ctx.values, 'config-file');
    if (configFile === undefined) {
      const issued = await create(ctx, uriPath);
      ctx.out.print({
        json: { AccessKeyId: issued.AccessKeyId, RawSecretAccessKey: issued.RawSecretAccessKey, UriPath: issued.UriPath, CreationDate: issued.CreationDate },
        table: {
          lines: [
            `AccessKeyId         ${issued.AccessKeyId}`,
            `RawSecretAccessKey  ${issued.RawSecretAccessKey}`,
            `UriPath             ${issued.UriPath}`,
            `CreationDate        ${isoSeconds(epochDate(issued.CreationDate))}`,
          ],
        },
      });
      ctx.warn('the secret is shown only this once; keybridge cannot show it again');
      return 0;
    }

    // The file is created (exclusively, 0600) before the credential, so a file that cannot be
    // written never costs one of the path's two credentials.
    const file = resolvePath(configFile);
    const fd = openExclusive(file);
    let issued: IssuedXksCredential;
    try {
      issued = await create(ctx, uriPath);
    } catch (err) {
      closeSync(fd);
      unlinkSync(file);
      throw err;
    }
    try {
      fchmodSync(fd, 0o600);
      const config = {
        XksProxyUriPath: issued.UriPath,
        XksProxyAuthenticationCredential: { AccessKeyId: issued.AccessKeyId, RawSecretAccessKey: issued.RawSecretAccessKey },
      };
      writeSync(fd, `${JSON.stringify(config, null, 2)}\n`);
      closeSync(fd);
    } catch (err) {
      // Nobody has the secret: take the credential back rather than leave it unusable.
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(file);
      } catch {
        // nothing to remove
      }
      await adminCall(ctx, 'DeleteXksCredential', { AccessKeyId: issued.AccessKeyId }).catch(() => undefined);
      throw new Error(`cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); credential ${issued.AccessKeyId} was deleted again`);
    }
    ctx.out.print({
      json: { AccessKeyId: issued.AccessKeyId, UriPath: issued.UriPath, CreationDate: issued.CreationDate, ConfigFile: file },
      table: { lines: [`${issued.UriPath}: credential ${issued.AccessKeyId} written to ${file} (mode 0600)`] },
    });
    return 0;
  },
};

function create(ctx: CommandContext, uriPath: string): Promise<IssuedXksCredential> {
  return adminCall<IssuedXksCredential>(ctx, 'CreateXksCredential', { UriPath: uriPath });
}

function openExclusive(file: string): number {
  try {
    return openSync(file, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(code === 'EEXIST' ? `--config-file: ${file} already exists; it is not overwritten` : `--config-file: cannot create ${file} (${code})`);
  }
}
