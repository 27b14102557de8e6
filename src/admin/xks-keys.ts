// Admin operations on the XKS proxy's keys (`keybridge xks keys …`): create, list, describe,
// enable, disable, delete. Each key is AES-256 in a keybridge key store's HSM.

import { z } from 'zod';
import { customKeyStoreIdMember } from '../operations/custom-key-store-wire.js';
import { notFound } from '../xks/keys.js';
import { defineAdminOperation } from './operation.js';
import { uriPathMember, xksKeyEntry, xksKeyIdMember } from './xks-wire.js';

export const createXksKey = defineAdminOperation({
  name: 'CreateXksKey',
  input: z.object({
    UriPath: uriPathMember,
    XksKeyId: xksKeyIdMember.optional(),
    CustomKeyStoreId: customKeyStoreIdMember.optional(),
    Description: z.string().max(8192).optional(),
    KeyUsage: z
      .array(z.enum(['ENCRYPT', 'DECRYPT']))
      .min(1)
      .max(2)
      .refine((usage) => new Set(usage).size === usage.length, { message: 'Member must not repeat a value' })
      .optional(),
  }),
  async run(_ctx, deps, input) {
    const key = await deps.xks.keys.create({
      uriPath: input.UriPath,
      xksKeyId: input.XksKeyId,
      customKeyStoreId: input.CustomKeyStoreId,
      description: input.Description,
      // Kept in a fixed order, whatever order the caller gave.
      usage: input.KeyUsage === undefined ? undefined : (['ENCRYPT', 'DECRYPT'] as const).filter((u) => input.KeyUsage!.includes(u)),
    });
    return { XksKey: xksKeyEntry(key) };
  },
});

export const listXksKeys = defineAdminOperation({
  name: 'ListXksKeys',
  input: z.object({ UriPath: uriPathMember.optional() }),
  async run(_ctx, deps, input) {
    return { XksKeys: (await deps.xks.keys.list(input.UriPath)).map(xksKeyEntry) };
  },
});

export const describeXksKey = defineAdminOperation({
  name: 'DescribeXksKey',
  input: z.object({ XksKeyId: xksKeyIdMember }),
  async run(_ctx, deps, input) {
    const key = await deps.xks.keys.get(input.XksKeyId);
    if (key === undefined) throw notFound(input.XksKeyId);
    return { XksKey: xksKeyEntry(key) };
  },
});

export const enableXksKey = defineAdminOperation({
  name: 'EnableXksKey',
  input: z.object({ XksKeyId: xksKeyIdMember }),
  async run(_ctx, deps, input) {
    return { XksKey: xksKeyEntry(await deps.xks.keys.setStatus(input.XksKeyId, 'ENABLED')) };
  },
});

export const disableXksKey = defineAdminOperation({
  name: 'DisableXksKey',
  input: z.object({ XksKeyId: xksKeyIdMember }),
  async run(_ctx, deps, input) {
    return { XksKey: xksKeyEntry(await deps.xks.keys.setStatus(input.XksKeyId, 'DISABLED')) };
  },
});

/** Destroys the key in its HSM: only a DISABLED key, and every ciphertext under it is lost. */
export const deleteXksKey = defineAdminOperation({
  name: 'DeleteXksKey',
  input: z.object({ XksKeyId: xksKeyIdMember }),
  async run(_ctx, deps, input) {
    await deps.xks.keys.delete(input.XksKeyId);
    return {};
  },
});
