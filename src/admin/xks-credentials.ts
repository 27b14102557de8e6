// Admin operations on the XKS proxy's SigV4 credentials (`keybridge xks credentials …`): at most
// two per URI path, so one can be replaced while the other works. The secret is returned once, by
// CreateXksCredential, in the shape AWS KMS's CreateCustomKeyStore takes.

import { z } from 'zod';
import { KmsError } from '../domain/errors.js';
import { epochSeconds } from '../operations/key-metadata.js';
import { MAX_CREDENTIALS_PER_PATH } from '../xks/credentials.js';
import { defineAdminOperation } from './operation.js';
import { uriPathMember } from './xks-wire.js';

export const createXksCredential = defineAdminOperation({
  name: 'CreateXksCredential',
  input: z.object({ UriPath: uriPathMember }),
  async run(_ctx, deps, input) {
    const created = await deps.xks.credentials.create(input.UriPath, deps.clock.now());
    if (created === undefined) {
      throw new KmsError(
        'LimitExceededException',
        `${input.UriPath} already has ${MAX_CREDENTIALS_PER_PATH} credentials; delete the one AWS KMS no longer uses first.`,
      );
    }
    return {
      AccessKeyId: created.record.accessKeyId,
      RawSecretAccessKey: created.secret,
      UriPath: created.record.uriPath,
      CreationDate: epochSeconds(created.record.createdAt),
    };
  },
});

export const listXksCredentials = defineAdminOperation({
  name: 'ListXksCredentials',
  input: z.object({ UriPath: uriPathMember.optional() }),
  async run(_ctx, deps, input) {
    const records = await deps.xks.credentials.list(input.UriPath);
    return { Credentials: records.map((c) => ({ AccessKeyId: c.accessKeyId, UriPath: c.uriPath, CreationDate: epochSeconds(c.createdAt) })) };
  },
});

export const deleteXksCredential = defineAdminOperation({
  name: 'DeleteXksCredential',
  input: z.object({ AccessKeyId: z.string().min(1).max(128) }),
  async run(_ctx, deps, input) {
    if (!(await deps.xks.credentials.delete(input.AccessKeyId))) {
      throw new KmsError('NotFoundException', `No XKS proxy credential has access key id ${input.AccessKeyId}.`);
    }
    return {};
  },
});
