// What the `keybridge keystore …` commands share about the two custom key store types:
// AWS_CLOUDHSM (a PKCS#11 cluster) and EXTERNAL_KEY_STORE (an XKS proxy keybridge calls, docs/xks.md
// "Face 2"). The XksProxy* options, their local checks (usage errors before any request) and how the
// proxy's path and credential are read: from the AWS KMS console's proxy configuration file
// (`keybridge xks credentials-create --config-file`) or from --xks-proxy-uri-path and
// --xks-proxy-credential ACCESS_KEY_ID:SECRET, SECRET inline or file://PATH. A secret is never echoed.

import type { CustomKeyStoresListEntry, XksProxyAuthenticationCredentialType } from '@aws-sdk/client-kms';
import { type OptionSpec, type OptionValues, readValueArgument, UsageError } from './args.js';
import { str } from './command.js';

export const STORE_TYPES = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
export type StoreType = (typeof STORE_TYPES)[number];

/** keybridge reaches proxies over its own network; VPC_ENDPOINT_SERVICE (AWS PrivateLink) is refused by the service. */
export const CONNECTIVITIES = ['PUBLIC_ENDPOINT'] as const;

/** AWS KMS's patterns for the XksProxy* members (the service checks them again). */
const URI_ENDPOINT_PATTERN = /^https:\/\/[a-zA-Z0-9.-]+$/;
const URI_PATH_PATTERN = /^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/;
const ACCESS_KEY_ID_PATTERN = /^[A-Z2-7]{20,30}$/;
const SECRET_PATTERN = /^[a-zA-Z0-9/+=]{43,64}$/;

/** The options that belong to AWS_CLOUDHSM stores only (create). */
export const CLOUDHSM_CREATE_OPTIONS = ['cluster-id', 'trust-anchor-certificate', 'key-store-password'] as const;

export const XKS_ENDPOINT_OPTION = 'xks-proxy-uri-endpoint';
export const XKS_PATH_OPTION = 'xks-proxy-uri-path';
export const XKS_CREDENTIAL_OPTION = 'xks-proxy-credential';
export const XKS_CONFIG_FILE_OPTION = 'xks-proxy-config-file';
export const XKS_CONNECTIVITY_OPTION = 'xks-proxy-connectivity';

/** The --xks-proxy-* options of create (with connectivity) and update (without). */
export function xksProxyOptions(forUpdate: boolean): OptionSpec[] {
  const tag = 'EXTERNAL_KEY_STORE:';
  const options: OptionSpec[] = [
    {
      name: XKS_ENDPOINT_OPTION,
      kind: 'string',
      metavar: 'URL',
      description:
        `${tag} ${forUpdate ? 'New proxy endpoint' : '(required) The proxy endpoint'}, https://HOST (a DNS name; no port, no path)` +
        (forUpdate ? '; only while the store is DISCONNECTED.' : '.'),
    },
    {
      name: XKS_CONFIG_FILE_OPTION,
      kind: 'string',
      metavar: 'FILE',
      description:
        `${tag} The proxy configuration file of the AWS KMS console (as \`keybridge xks credentials-create --config-file\` ` +
        `writes it): ${forUpdate ? 'the new' : 'the'} URI path and authentication credential come from it. ` +
        'Instead of --xks-proxy-uri-path and --xks-proxy-credential.',
    },
    {
      name: XKS_PATH_OPTION,
      kind: 'string',
      metavar: 'PATH',
      description: `${tag} ${forUpdate ? 'New' : 'The'} proxy URI path, /kms/xks/v1 or /PREFIX/kms/xks/v1.`,
    },
    {
      name: XKS_CREDENTIAL_OPTION,
      kind: 'string',
      metavar: 'ACCESS_KEY_ID:SECRET',
      description:
        `${tag} ${forUpdate ? 'New' : 'The'} proxy authentication credential: its access key id, a colon, and the raw secret ` +
        'access key as file://PATH (one trailing newline dropped) or inline. Prefer file://: command lines are visible to other users.',
    },
  ];
  if (!forUpdate) {
    options.push({
      name: XKS_CONNECTIVITY_OPTION,
      kind: 'string',
      metavar: 'CONNECTIVITY',
      choices: CONNECTIVITIES,
      description: `${tag} How keybridge reaches the proxy: PUBLIC_ENDPOINT (the default; the address as keybridge's network resolves it). keybridge does not use VPC endpoint services.`,
    });
  }
  return options;
}

/** The names of the --xks-proxy-* options given, as `--name`. */
export function givenXksOptions(values: OptionValues): string[] {
  return [XKS_ENDPOINT_OPTION, XKS_CONFIG_FILE_OPTION, XKS_PATH_OPTION, XKS_CREDENTIAL_OPTION, XKS_CONNECTIVITY_OPTION]
    .filter((o) => values[o] !== undefined)
    .map((o) => `--${o}`);
}

/** `--a`, `--a and --b`, `--a, --b and --c`. */
export function listOptions(options: readonly string[]): string {
  return options.length <= 1 ? (options[0] ?? '') : `${options.slice(0, -1).join(', ')} and ${options[options.length - 1]!}`;
}

/**
 * Local checks of the --xks-proxy-* values (shape only; files are read in `readXksProxy`), and of
 * their combination: a configuration file or a path and a credential, not both. `needPathAndCredential`:
 * create needs one of the two ways; update takes any of them.
 */
export function checkXksOptions(values: OptionValues, needPathAndCredential: boolean): void {
  const endpoint = str(values, XKS_ENDPOINT_OPTION);
  if (endpoint !== undefined && !(endpoint.length >= 10 && endpoint.length <= 128 && URI_ENDPOINT_PATTERN.test(endpoint))) {
    throw new UsageError(`--${XKS_ENDPOINT_OPTION} must be https://HOST (a DNS name of letters, digits, . and -; no port, no path)`);
  }
  const path = str(values, XKS_PATH_OPTION);
  if (path !== undefined) checkUriPath(`--${XKS_PATH_OPTION}`, path);
  const credential = str(values, XKS_CREDENTIAL_OPTION);
  if (credential !== undefined) splitCredential(credential);

  const configFile = str(values, XKS_CONFIG_FILE_OPTION);
  if (configFile !== undefined && (path !== undefined || credential !== undefined)) {
    const other = listOptions([path === undefined ? '' : `--${XKS_PATH_OPTION}`, credential === undefined ? '' : `--${XKS_CREDENTIAL_OPTION}`].filter(Boolean));
    throw new UsageError(`give --${XKS_CONFIG_FILE_OPTION} or ${other}, not both (the file has the URI path and the credential)`);
  }
  if (needPathAndCredential && configFile === undefined) {
    if (path === undefined && credential === undefined) {
      throw new UsageError(`missing --${XKS_CONFIG_FILE_OPTION}, or --${XKS_PATH_OPTION} with --${XKS_CREDENTIAL_OPTION} (for --type EXTERNAL_KEY_STORE)`);
    }
    if (path === undefined) throw new UsageError(`missing required option --${XKS_PATH_OPTION} (with --${XKS_CREDENTIAL_OPTION}; or give --${XKS_CONFIG_FILE_OPTION})`);
    if (credential === undefined) throw new UsageError(`missing required option --${XKS_CREDENTIAL_OPTION} (with --${XKS_PATH_OPTION}; or give --${XKS_CONFIG_FILE_OPTION})`);
  }
}

function checkUriPath(where: string, path: string): void {
  if (!(path.length >= 10 && path.length <= 128 && URI_PATH_PATTERN.test(path))) {
    throw new UsageError(`${where} must be /kms/xks/v1 or /PREFIX/kms/xks/v1 (PREFIX of letters, digits, /, _ and -), at most 128 characters`);
  }
}

function checkAccessKeyId(where: string, id: string): void {
  if (!ACCESS_KEY_ID_PATTERN.test(id)) throw new UsageError(`${where}: the access key id must be 20-30 characters of A-Z and 2-7`);
}

/** Never shows the secret, only what is wrong with it. */
function checkSecret(where: string, secret: string): void {
  if (!SECRET_PATTERN.test(secret)) throw new UsageError(`${where}: the raw secret access key must be 43-64 characters of A-Z, a-z, 0-9, /, + and =`);
}

/** ACCESS_KEY_ID:SECRET → its parts, the access key id checked. The secret part may still be file://PATH. */
function splitCredential(value: string): { accessKeyId: string; secret: string } {
  const where = `--${XKS_CREDENTIAL_OPTION}`;
  const colon = value.indexOf(':');
  if (colon < 0 || colon === value.length - 1) throw new UsageError(`${where} must be ACCESS_KEY_ID:SECRET (SECRET as file://PATH or inline)`);
  const accessKeyId = value.slice(0, colon);
  checkAccessKeyId(where, accessKeyId);
  return { accessKeyId, secret: value.slice(colon + 1) };
}

/** The proxy's URI path and credential from the options: the configuration file, or path and credential. Files are read here. */
export function readXksProxy(values: OptionValues): { uriPath?: string; credential?: XksProxyAuthenticationCredentialType } {
  const configFile = str(values, XKS_CONFIG_FILE_OPTION);
  if (configFile !== undefined) return readConfigFile(configFile);
  const credentialArg = str(values, XKS_CREDENTIAL_OPTION);
  let credential: XksProxyAuthenticationCredentialType | undefined;
  if (credentialArg !== undefined) {
    const { accessKeyId, secret } = splitCredential(credentialArg);
    const raw = readValueArgument(XKS_CREDENTIAL_OPTION, secret, { dropTrailingNewline: true });
    checkSecret(`--${XKS_CREDENTIAL_OPTION}`, raw);
    credential = { AccessKeyId: accessKeyId, RawSecretAccessKey: raw };
  }
  return { uriPath: str(values, XKS_PATH_OPTION), credential };
}

/** {"XksProxyUriPath": …, "XksProxyAuthenticationCredential": {"AccessKeyId": …, "RawSecretAccessKey": …}}; other members are ignored. */
function readConfigFile(file: string): { uriPath: string; credential: XksProxyAuthenticationCredentialType } {
  const option = XKS_CONFIG_FILE_OPTION;
  const path = file.startsWith('file://') ? file : `file://${file}`;
  const shown = path.slice('file://'.length);
  const text = readValueArgument(option, path);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, secret included.
    throw new UsageError(`--${option}: ${shown} is not JSON`);
  }
  const where = `--${option}: ${shown}`;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`${where} is not a JSON object`);
  const { XksProxyUriPath: uriPath, XksProxyAuthenticationCredential: credential } = doc as Record<string, unknown>;
  if (typeof uriPath !== 'string') throw new UsageError(`${where} has no XksProxyUriPath string`);
  checkUriPath(`${where}: XksProxyUriPath`, uriPath);
  if (typeof credential !== 'object' || credential === null) throw new UsageError(`${where} has no XksProxyAuthenticationCredential object`);
  const { AccessKeyId: accessKeyId, RawSecretAccessKey: secret } = credential as Record<string, unknown>;
  if (typeof accessKeyId !== 'string') throw new UsageError(`${where} has no XksProxyAuthenticationCredential.AccessKeyId string`);
  if (typeof secret !== 'string') throw new UsageError(`${where} has no XksProxyAuthenticationCredential.RawSecretAccessKey string`);
  checkAccessKeyId(where, accessKeyId);
  checkSecret(where, secret);
  return { uriPath, credential: { AccessKeyId: accessKeyId, RawSecretAccessKey: secret } };
}

/** A store's type; entries without one are AWS_CLOUDHSM (the API's default). */
export function storeType(s: CustomKeyStoresListEntry): string {
  return s.CustomKeyStoreType ?? 'AWS_CLOUDHSM';
}

/** What a store is backed by: its cluster id, or its proxy's https://host/path. */
export function storeTarget(s: CustomKeyStoresListEntry): string | undefined {
  if (storeType(s) !== 'EXTERNAL_KEY_STORE') return s.CloudHsmClusterId;
  const proxy = s.XksProxyConfiguration;
  if (proxy === undefined || proxy.UriEndpoint === undefined) return undefined;
  return `${proxy.UriEndpoint}${proxy.UriPath ?? ''}`;
}
