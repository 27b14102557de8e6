// The proxy's URIs (spec "API operations"): {XksProxyUriPath}/keys/{externalKeyId}/{metadata|encrypt|decrypt}
// and {XksProxyUriPath}/health, where XksProxyUriPath is [/prefix]/kms/xks/v1.

/**
 * AWS KMS's pattern for XksProxyUriPath (CreateCustomKeyStore), narrowed to the one API version
 * this proxy speaks (v1). At most 128 characters.
 */
export const URI_PATH_PATTERN = /^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v1)$|^(\/kms\/xks\/v1)$/;
export const URI_PATH_MAX = 128;

/** The spec's externalKeyId: at most 128 of letters, digits, hyphen, period, underscore. */
export const XKS_KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The spec: the whole URI must not exceed 256 characters. */
const MAX_URI = 256;

export type XksOperation = 'GetKeyMetadata' | 'Encrypt' | 'Decrypt' | 'GetHealthStatus';

const KEY_OPERATIONS: Readonly<Record<string, XksOperation>> = { metadata: 'GetKeyMetadata', encrypt: 'Encrypt', decrypt: 'Decrypt' };

export interface ProxyPath {
  /** The XksProxyUriPath the request was sent under. */
  readonly uriPath: string;
  readonly operation: XksOperation;
  /** The externalKeyId; undefined for GetHealthStatus. */
  readonly keyId?: string;
}

export function isUriPath(value: string): boolean {
  return value.length <= URI_PATH_MAX && URI_PATH_PATTERN.test(value);
}

/**
 * What a request path (no query) addresses, or undefined when it is no proxy URI at all. The path
 * is taken as sent: nothing is percent-decoded, so an encoded character never matches a pattern.
 */
export function parseProxyPath(path: string): ProxyPath | undefined {
  if (path.length > MAX_URI) return undefined;
  if (path.endsWith('/health')) {
    const uriPath = path.slice(0, -'/health'.length);
    return isUriPath(uriPath) ? { uriPath, operation: 'GetHealthStatus' } : undefined;
  }
  const slash = path.lastIndexOf('/');
  const operation = KEY_OPERATIONS[path.slice(slash + 1)];
  if (operation === undefined || slash < 0) return undefined;
  const rest = path.slice(0, slash);
  const keyAt = rest.lastIndexOf('/');
  const keyId = rest.slice(keyAt + 1);
  const keysPart = rest.slice(0, keyAt);
  if (!keysPart.endsWith('/keys') || !XKS_KEY_ID_PATTERN.test(keyId)) return undefined;
  const uriPath = keysPart.slice(0, -'/keys'.length);
  return isUriPath(uriPath) ? { uriPath, operation, keyId } : undefined;
}
