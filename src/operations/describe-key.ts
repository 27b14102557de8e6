import { z } from 'zod';
import { resolveKey } from './key-access.js';
import { keyMetadata } from './key-metadata.js';
import { defineOperation } from './operation.js';
import { grantTokens, keyIdMember } from './wire.js';

export const describeKey = defineOperation({
  name: 'DescribeKey',
  input: z.object({ KeyId: keyIdMember, GrantTokens: grantTokens.optional() }),
  async run(_ctx, deps, input) {
    const key = await resolveKey(deps, input.KeyId);
    return { KeyMetadata: await keyMetadata(deps, key) };
  },
});
