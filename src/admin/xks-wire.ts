// Wire members and output shapes shared by the XKS proxy's admin operations.

import { z } from 'zod';
import { epochSeconds } from '../operations/key-metadata.js';
import type { XksKeyRecord } from '../ports/xks-store.js';
import { URI_PATH_MAX, URI_PATH_PATTERN, XKS_KEY_ID_PATTERN } from '../xks/uri.js';

/** An XksProxyUriPath: [/prefix]/kms/xks/v1, at most 128 characters (AWS's CreateCustomKeyStore pattern, API v1). */
export const uriPathMember = z.string().min(10).max(URI_PATH_MAX).regex(URI_PATH_PATTERN);
export const xksKeyIdMember = z.string().regex(XKS_KEY_ID_PATTERN);

export function xksKeyEntry(key: XksKeyRecord) {
  return {
    XksKeyId: key.xksKeyId,
    UriPath: key.uriPath,
    KeySpec: 'AES_256',
    KeyUsage: [...key.usage],
    KeyStatus: key.status,
    ...(key.customKeyStoreId === null ? {} : { CustomKeyStoreId: key.customKeyStoreId }),
    Description: key.description,
    CreationDate: epochSeconds(key.createdAt),
  };
}
