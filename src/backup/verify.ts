// `keybridge backup verify`: checks a backup without restoring it — every file the manifest lists
// is there with its size and SHA-256, nothing is there that it does not list, both databases pass
// SQLite's integrity check, and the audit trail's chain (and signed digests, with the public key in
// the backup) verifies up to the head the manifest recorded.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { verifyAuditFile } from '../audit/verify.js';
import { listFiles, MANIFEST_FILE, readManifest, type BackupManifest } from './manifest.js';

export interface BackupCheck {
  readonly ok: boolean;
  readonly manifest: BackupManifest | undefined;
  /** What is wrong, one line each (empty when ok). */
  readonly problems: readonly string[];
}

export function verifyBackup(dir: string): BackupCheck {
  let manifest: BackupManifest;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    return { ok: false, manifest: undefined, problems: [(err as Error).message] };
  }
  const problems: string[] = [];
  const present = new Map(listFiles(dir, dir).filter((f) => f.path !== MANIFEST_FILE).map((f) => [f.path, f]));
  for (const expected of manifest.files) {
    const actual = present.get(expected.path);
    if (actual === undefined) problems.push(`${expected.path}: missing`);
    else if (actual.sha256 !== expected.sha256 || actual.bytes !== expected.bytes) problems.push(`${expected.path}: its contents differ from the manifest (SHA-256 ${actual.sha256.slice(0, 16)}…, expected ${expected.sha256.slice(0, 16)}…)`);
    present.delete(expected.path);
  }
  for (const extra of present.keys()) problems.push(`${extra}: not in the manifest`);
  if (problems.length > 0) return { ok: false, manifest, problems };

  for (const name of ['keybridge.db', 'audit.db']) {
    const db = new Database(join(dir, name), { readonly: true, fileMustExist: true });
    try {
      const result = db.pragma('integrity_check', { simple: true });
      if (result !== 'ok') problems.push(`${name}: SQLite integrity check says ${String(result)}`);
    } finally {
      db.close();
    }
  }
  const pem = join(dir, 'audit-signing-key.pem');
  const trail = verifyAuditFile(join(dir, 'audit.db'), existsSync(pem) ? { publicKeyPem: readFileSync(pem) } : {});
  if (!trail.ok) problems.push(`audit.db: seq ${trail.problem!.seq}: ${trail.problem!.kind}: ${trail.problem!.detail}`);
  else if (trail.head.seq !== manifest.audit.head.seq || trail.head.hash !== manifest.audit.head.hash) {
    problems.push(`audit.db: its head (seq ${trail.head.seq}) is not the one the manifest recorded (seq ${manifest.audit.head.seq})`);
  }
  return { ok: problems.length === 0, manifest, problems };
}
