// What the `keybridge xks …` commands share: the admin API's shapes for XKS keys and proxy
// credentials, the options naming them, and local checks of their values (usage errors before any
// request). The dispatcher knows `<group> <command>` only, so the commands are named
// `xks keys-create`, `xks credentials-list` and so on.

import type { OptionSpec, OptionValues } from './args.js';
import { UsageError } from './args.js';
import { adminCall } from './admin-client.js';
import { type Command, req, str } from './command.js';
import type { Cell, Printable } from './output.js';
import { URI_PATH_MAX, URI_PATH_PATTERN, XKS_KEY_ID_PATTERN } from '../xks/uri.js';

export type XksKeyUsage = 'ENCRYPT' | 'DECRYPT';
export const XKS_KEY_USAGES: readonly XksKeyUsage[] = ['ENCRYPT', 'DECRYPT'];

/** An XKS key as the admin API returns it (XksKey). */
export interface XksKeyEntry {
  XksKeyId: string;
  UriPath: string;
  KeySpec: string;
  KeyUsage: XksKeyUsage[];
  KeyStatus: 'ENABLED' | 'DISABLED';
  CustomKeyStoreId?: string;
  Description: string;
  CreationDate: number;
}

/** A proxy credential as ListXksCredentials returns it (never with its secret). */
export interface XksCredentialEntry {
  AccessKeyId: string;
  UriPath: string;
  CreationDate: number;
}

/** What CreateXksCredential returns: the only time the secret is seen. */
export interface IssuedXksCredential extends XksCredentialEntry {
  RawSecretAccessKey: string;
}

const URI_PATH_HELP = '/kms/xks/v1 or /PREFIX/kms/xks/v1 (PREFIX of letters, digits, /, _ and -), at most 128 characters';

export function uriPathOption(description: string, required = false): OptionSpec {
  return { name: 'uri-path', kind: 'string', metavar: 'PATH', ...(required ? { required: true } : {}), description: `${description} ${URI_PATH_HELP}.` };
}

/** The XKS key id as `keybridge xks keys-describe ID` or --id. */
export const KEY_ID_OPTION: OptionSpec = {
  name: 'id',
  kind: 'string',
  metavar: 'ID',
  required: true,
  description: 'The XKS key id (the externalKeyId AWS KMS knows it by). May also be given as the argument after the command.',
};

/** --uri-path, when given, must be a path the proxy can serve (the admin API's own pattern). */
export function checkUriPath(values: OptionValues): void {
  const path = str(values, 'uri-path');
  if (path !== undefined && !(path.length <= URI_PATH_MAX && URI_PATH_PATTERN.test(path))) {
    throw new UsageError(`--uri-path must be ${URI_PATH_HELP}`);
  }
}

/** An XKS key id option, when given: at most 128 of letters, digits, `.`, `_` and `-`. */
export function checkKeyId(values: OptionValues, option: string): void {
  const id = str(values, option);
  if (id !== undefined && !XKS_KEY_ID_PATTERN.test(id)) {
    throw new UsageError(`--${option} must be 1-128 letters, digits, periods, underscores and hyphens`);
  }
}

/** `ENCRYPT,DECRYPT` → ['ENCRYPT', 'DECRYPT']: known values, none repeated, at least one. */
export function parseKeyUsage(value: string): XksKeyUsage[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !(XKS_KEY_USAGES as readonly string[]).includes(p))) {
    throw new UsageError(`--key-usage must be a comma-separated list of ${XKS_KEY_USAGES.join(', ')}`);
  }
  if (new Set(parts).size !== parts.length) throw new UsageError('--key-usage names a usage more than once');
  return parts as XksKeyUsage[];
}

export function epochDate(seconds: number): Date {
  return new Date(seconds * 1000);
}

const KEY_COLUMNS = ['XKS KEY ID', 'URI PATH', 'STATUS', 'USAGE', 'STORE', 'CREATED'] as const;

function keyRow(k: XksKeyEntry): Cell[] {
  return [k.XksKeyId, k.UriPath, k.KeyStatus, k.KeyUsage.join(','), k.CustomKeyStoreId ?? '(default)', epochDate(k.CreationDate)];
}

export function keysPrintable(keys: readonly XksKeyEntry[]): Printable {
  return { json: { XksKeys: keys }, table: { columns: KEY_COLUMNS, rows: keys.map(keyRow) } };
}

/** One key (create, describe, enable, disable): the list's columns and its description. */
export function keyPrintable(key: XksKeyEntry): Printable {
  return { json: { XksKey: key }, table: { columns: [...KEY_COLUMNS, 'DESCRIPTION'], rows: [[...keyRow(key), key.Description]] } };
}

/** A command that sends one XKS key id to `operation` and prints the key it returns (describe, enable, disable). */
export function oneKeyCommand(name: string, operation: string, summary: string, description: string): Command {
  return {
    group: 'xks',
    name,
    positional: 'id',
    summary,
    description: `${description} The id may be given as \`keybridge xks ${name} ID\` or with --id.`,
    options: [KEY_ID_OPTION],
    validate: (values) => checkKeyId(values, 'id'),
    async run(ctx) {
      const { XksKey } = await adminCall<{ XksKey: XksKeyEntry }>(ctx, operation, { XksKeyId: req(ctx.values, 'id') });
      ctx.out.print(keyPrintable(XksKey));
      return 0;
    },
  };
}
