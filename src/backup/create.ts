// `keybridge backup create`: a consistent copy of what a node owns, taken while it serves.
//
// - metadata and audit trail: `VACUUM INTO` from a read-only connection — one read transaction, so
//   a consistent snapshot however busy the writers are (SQLite's step-wise online backup restarts
//   whenever another process writes, which a busy audit trail does every few milliseconds);
// - the embedded SoftHSM2 tokens (<dataDir>/tokens: the default key store and the example cluster's
//   members): their files, encrypted by SoftHSM2 under each token's PIN, useless without it;
// - the audit signing public key and the cluster definitions;
// - a manifest with every file's SHA-256, the trail's head and latest signed digest.
//
// Consistency between the token and the metadata: keys are created and destroyed while the backup
// runs. The token files are listed (with their hashes) before and after the metadata is copied; if
// anything changed, or the copy does not match, the whole attempt is thrown away and taken again.
// So every key in the copied metadata has its material in the copied token. Encrypt, Decrypt and
// the other cryptographic calls do not change token files, so a load of them never causes a retry.
//
// Never in a backup: PINs, the operator's credentials file, softhsm2.conf (written for the data
// directory at restore), logs. The PINs are what makes the token files usable: keep them apart.

import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { verifyAuditFile } from '../audit/verify.js';
import { BACKUP_FORMAT, BACKUP_VERSION, listFiles, MANIFEST_FILE, type BackupFile, type BackupManifest } from './manifest.js';

export interface BackupSource {
  readonly dataDir: string;
  /** The SQLite metadata store. */
  readonly storePath: string;
  /** The SQLite audit trail. */
  readonly auditPath: string;
  /** The embedded SoftHSM2 token directory; undefined when the HSM is not embedded (its vendor backs it up). */
  readonly tokensDir: string | undefined;
  /** The cluster definitions in use, if any. */
  readonly clustersDir: string | undefined;
  /** The audit signing public key (PEM), if written. */
  readonly signingKeyPem: string;
}

export interface BackupResult {
  readonly directory: string;
  readonly manifest: BackupManifest;
  readonly bytes: number;
  readonly attempts: number;
  readonly milliseconds: number;
}

/** Attempts before giving up when the token keeps changing under the copy. */
const MAX_ATTEMPTS = 10;
const RETRY_PAUSE_MS = 200;

export const NOT_INCLUDED = [
  'pins/ (the HSM PINs: restore needs them, from where you keep them apart from backups)',
  'credentials (the operator access keys: a new one is written at the first start after a restore)',
  'softhsm2.conf (written for the new data directory at the first start)',
  'logs',
];

export async function createBackup(source: BackupSource, out: string, now: () => number = Date.now): Promise<BackupResult> {
  const started = now();
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out} is not empty: a backup goes into a new or empty directory`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  chmodSync(out, 0o700);
  for (const [what, path] of [['metadata store', source.storePath], ['audit trail', source.auditPath]] as const) {
    if (!existsSync(path)) throw new Error(`no ${what} at ${path} (is ${source.dataDir} keybridge's data directory?)`);
  }

  let attempts = 0;
  for (;;) {
    attempts += 1;
    const before = source.tokensDir === undefined ? [] : listFiles(source.tokensDir, source.tokensDir);
    if (source.tokensDir !== undefined) cpSync(source.tokensDir, join(out, 'tokens'), { recursive: true });
    vacuumInto(source.storePath, join(out, 'keybridge.db'));
    vacuumInto(source.auditPath, join(out, 'audit.db'));
    const after = source.tokensDir === undefined ? [] : listFiles(source.tokensDir, source.tokensDir);
    const copied = source.tokensDir === undefined ? [] : listFiles(join(out, 'tokens'), join(out, 'tokens'));
    if (sameFiles(before, after) && sameFiles(before, copied)) break;
    // A key was created or destroyed meanwhile: the copies may not match each other.
    for (const entry of readdirSync(out)) rmSync(join(out, entry), { recursive: true, force: true });
    if (attempts >= MAX_ATTEMPTS) throw new Error(`the HSM token kept changing during ${attempts} attempts (keys being created or deleted); try again when it is quieter`);
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
  }
  if (existsSync(source.signingKeyPem)) cpSync(source.signingKeyPem, join(out, 'audit-signing-key.pem'));
  if (source.clustersDir !== undefined && existsSync(source.clustersDir)) cpSync(source.clustersDir, join(out, 'clusters'), { recursive: true });

  const trail = verifyAuditFile(join(out, 'audit.db'), existsSync(join(out, 'audit-signing-key.pem')) ? { publicKeyPem: readFileSync(join(out, 'audit-signing-key.pem')) } : {});
  const files = listFiles(out, out);
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    createdAt: new Date(now()).toISOString(),
    sourceDataDir: source.dataDir,
    files,
    audit: {
      records: trail.records,
      head: trail.head,
      lastDigest: trail.digests.last ?? null,
    },
    contents: { ...counts(join(out, 'keybridge.db')), tokens: source.tokensDir === undefined ? [] : readdirSync(join(out, 'tokens')).sort() },
    notIncluded: source.tokensDir === undefined ? [...NOT_INCLUDED, 'HSM key material (not embedded: use the HSM vendor\'s backup)'] : NOT_INCLUDED,
  };
  writeFileSync(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  restrict(out);
  return { directory: out, manifest, bytes: files.reduce((n, f) => n + f.bytes, 0), attempts, milliseconds: now() - started };
}

/** A consistent copy of a live SQLite database (one read transaction), from a read-only connection. */
function vacuumInto(source: string, destination: string): void {
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    db.prepare('VACUUM INTO ?').run(destination);
  } finally {
    db.close();
  }
}

function sameFiles(a: readonly BackupFile[], b: readonly BackupFile[]): boolean {
  return a.length === b.length && a.every((f, i) => f.path === b[i]!.path && f.sha256 === b[i]!.sha256);
}

function counts(storeCopy: string): { keys: number; customKeyStores: number } {
  const db = new Database(storeCopy, { readonly: true, fileMustExist: true });
  try {
    const n = (sql: string) => (db.prepare(sql).pluck().get() as number) ?? 0;
    return { keys: n('SELECT count(*) FROM keys'), customKeyStores: n('SELECT count(*) FROM custom_key_stores') };
  } finally {
    db.close();
  }
}

/** Files 0600 and directories 0700: the token files are encrypted, the metadata and trail are not. */
function restrict(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(path, 0o700);
      restrict(path);
    } else chmodSync(path, 0o600);
  }
}
