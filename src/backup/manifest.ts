// A backup's manifest (keybridge-backup.json): what the backup holds, each file's size and SHA-256,
// and what it deliberately leaves out. `backup verify` and `backup restore` trust nothing in the
// directory that the manifest does not list with a matching checksum.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export const MANIFEST_FILE = 'keybridge-backup.json';
export const BACKUP_FORMAT = 'keybridge-backup';
export const BACKUP_VERSION = 1;

export interface BackupFile {
  /** Relative to the backup directory, '/'-separated. */
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: number;
  readonly createdAt: string;
  /** The data directory it was taken from (for the operator's information). */
  readonly sourceDataDir: string;
  readonly files: readonly BackupFile[];
  /** Where the audit trail stood: its head and its latest signed digest (keep them elsewhere too). */
  readonly audit: {
    readonly records: number;
    readonly head: { readonly seq: number; readonly hash: string };
    readonly lastDigest: { readonly headSeq: number; readonly digestTime: string; readonly signature: string } | null;
  };
  readonly contents: { readonly keys: number; readonly customKeyStores: number; readonly tokens: readonly string[] };
  /** Kept out on purpose, and where each must come from at a restore. */
  readonly notIncluded: readonly string[];
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every regular file under `dir`, as manifest entries relative to `root`, sorted by path. */
export function listFiles(dir: string, root: string): BackupFile[] {
  const out: BackupFile[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) out.push({ path: relative(root, path).split(sep).join('/'), bytes: statSync(path).size, sha256: sha256File(path) });
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function readManifest(dir: string): BackupManifest {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new Error(`${join(dir, MANIFEST_FILE)} cannot be read: ${(err as Error).message}`);
  }
  if (manifest.format !== BACKUP_FORMAT || !Array.isArray(manifest.files)) throw new Error(`${join(dir, MANIFEST_FILE)} is not a keybridge backup manifest`);
  if (manifest.version !== BACKUP_VERSION) throw new Error(`backup format version ${manifest.version} is not one this keybridge reads (${BACKUP_VERSION})`);
  return manifest;
}
