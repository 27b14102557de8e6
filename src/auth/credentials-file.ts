// The AWS shared-credentials file (~/.aws/credentials): INI sections named after profiles, each
// with aws_access_key_id and aws_secret_access_key. keybridge reads its operator keys from it and
// writes new ones into it, so the AWS CLI and SDKs pick the same keys up with `--profile`.

import { randomBytes } from 'node:crypto';
import {
  closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface FileCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Internal error (never sent to a client). Messages name a line number, never its content. */
export class CredentialsFileError extends Error {
  readonly code = 'ERR_CREDENTIALS_FILE';

  constructor(message: string) {
    super(message);
    this.name = 'CredentialsFileError';
  }
}

/**
 * Profiles that have both keys. Tolerates `#`/`;` comment lines, blank lines, spaces around `=`,
 * CRLF, and other keys (region, aws_session_token, ...), which are ignored. A profile repeated
 * later in the file overrides earlier values key by key. Throws ENOENT if the file is missing and
 * CredentialsFileError if it is not INI.
 */
export function readCredentialsFile(path: string): Map<string, FileCredentials> {
  const partial = new Map<string, { accessKeyId?: string; secretAccessKey?: string }>();
  let current: { accessKeyId?: string; secretAccessKey?: string } | undefined;
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || isComment(line)) continue;
    const section = sectionName(line);
    if (section !== undefined) {
      current = partial.get(section) ?? {};
      partial.set(section, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new CredentialsFileError(`${path}:${n + 1}: expected [profile] or key = value`);
    if (current === undefined) throw new CredentialsFileError(`${path}:${n + 1}: key outside of a [profile] section`);
    const name = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (name === 'aws_access_key_id') current.accessKeyId = value;
    else if (name === 'aws_secret_access_key') current.secretAccessKey = value;
  }

  const profiles = new Map<string, FileCredentials>();
  for (const [profile, creds] of partial) {
    if (creds.accessKeyId && creds.secretAccessKey) {
      profiles.set(profile, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey });
    }
  }
  return profiles;
}

/**
 * Adds `profile`, or replaces its keys in place (every section of that name loses its key lines;
 * the first becomes the new section). Other profiles, comments and blank lines are kept as they
 * were. Written atomically (temporary file in the same directory, fsync, rename) with mode 0600,
 * so a reader never sees half a file and the secret is never world-readable. Creates the
 * directory (0700) if needed.
 */
export function writeCredentialsProfile(path: string, profile: string, creds: FileCredentials): void {
  checkProfileName(profile);
  checkValue('access key id', creds.accessKeyId);
  checkValue('secret access key', creds.secretAccessKey);

  const block = [
    `[${profile}]`,
    `aws_access_key_id = ${creds.accessKeyId}`,
    `aws_secret_access_key = ${creds.secretAccessKey}`,
  ];
  // Split on \n only, so lines we keep keep their \r: other profiles stay byte for byte.
  const lines = readIfExists(path).split('\n');
  if (lines.at(-1) === '') lines.pop();

  const out: string[] = [];
  let inTarget = false;
  let written = false;
  for (const line of lines) {
    const trimmed = line.trim();
    const section = sectionName(trimmed);
    if (section !== undefined) {
      inTarget = section === profile;
      if (inTarget) {
        if (!written) out.push(...block);
        written = true;
        continue;
      }
    } else if (inTarget && trimmed !== '' && !isComment(trimmed)) {
      continue; // an old key of the profile being replaced
    }
    out.push(line);
  }
  if (!written) {
    if (out.length > 0 && out.at(-1)!.trim() !== '') out.push('');
    out.push(...block);
  }
  writeAtomically(path, `${out.join('\n')}\n`);
}

/**
 * A fresh key pair shaped like AWS's: `AKIA` + 16 base32 characters, and a 40-character base64
 * secret (30 random bytes, so no padding). Both alphabets are powers of two, so masking random
 * bytes gives uniform characters.
 */
export function generateAccessKey(): FileCredentials {
  const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let accessKeyId = 'AKIA';
  for (const byte of randomBytes(16)) accessKeyId += base32[byte & 31];
  const secretAccessKey = randomBytes(30).toString('base64');
  return { accessKeyId, secretAccessKey };
}

function isComment(trimmed: string): boolean {
  return trimmed.startsWith('#') || trimmed.startsWith(';');
}

/** `[name]` → name (spaces inside the brackets ignored); anything else → undefined. */
function sectionName(trimmed: string): string | undefined {
  if (!trimmed.startsWith('[') || !trimmed.endsWith(']')) return undefined;
  return trimmed.slice(1, -1).trim();
}

function checkProfileName(profile: string): void {
  if (profile === '' || profile !== profile.trim() || /[[\]\r\n]/.test(profile)) {
    throw new CredentialsFileError(`invalid profile name ${JSON.stringify(profile)}`);
  }
}

function checkValue(what: string, value: string): void {
  // No whitespace or control characters: the value must survive an INI round trip unchanged.
  if (value === '' || /[\s\p{Cc}]/u.test(value)) throw new CredentialsFileError(`invalid ${what}`);
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function writeAtomically(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx': never follow or reuse an existing file at the temporary name.
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    try {
      fchmodSync(fd, 0o600); // regardless of umask
      writeFileSync(fd, text); // loops until every byte is written
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}
