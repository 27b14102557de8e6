// Writes each signed digest as two files an operator can check with nothing but the public key
// and OpenSSL (docs/audit.md):
//   <headSeq>.json  the exact signed bytes      <headSeq>.sig  the DER ECDSA signature
//   openssl dgst -sha256 -verify audit-signing-key.pem -signature <headSeq>.sig <headSeq>.json

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openForReading, type StoredDigest } from './schema.js';

export interface DigestFilesResult {
  readonly directory: string;
  /** Head seqs of the digests written (or already present with the same bytes). */
  readonly digests: readonly number[];
}

export function exportDigestFiles(dbPath: string, directory: string): DigestFilesResult {
  const db = openForReading(dbPath);
  let rows: Pick<StoredDigest, 'head_seq' | 'digest' | 'signature'>[];
  try {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_digests'").get();
    rows = exists ? db.prepare<[], StoredDigest>('SELECT head_seq, digest, signature FROM audit_digests ORDER BY head_seq').all() : [];
  } finally {
    db.close();
  }
  mkdirSync(directory, { recursive: true, mode: 0o755 });
  for (const row of rows) {
    writeOnce(join(directory, `${row.head_seq}.json`), Buffer.from(row.digest, 'utf8'));
    writeOnce(join(directory, `${row.head_seq}.sig`), row.signature);
  }
  return { directory, digests: rows.map((r) => r.head_seq) };
}

/**
 * Never replaces a different file: digests kept from an earlier export are the evidence against a
 * trail rewritten since. The same bytes again are fine (exports are repeated into one place).
 */
function writeOnce(path: string, bytes: Buffer): void {
  try {
    writeFileSync(path, bytes, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!readFileSync(path).equals(bytes)) throw new Error(`${path} exists with different contents: the digest stored in the trail is not the one exported before`);
  }
}
