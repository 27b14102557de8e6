// `keybridge backup restore`: a verified backup into a new, empty data directory, with the PINs
// the operator kept apart. The first `npm start` on that directory writes softhsm2.conf for it, finds
// the restored tokens, store and trail, and writes new operator credentials; every key and
// ciphertext of the backup works again and the trail verifies.

import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { verifyBackup } from './verify.js';
import type { BackupManifest } from './manifest.js';

export interface RestoreResult {
  readonly dataDir: string;
  readonly manifest: BackupManifest;
  /** The PIN files copied into <dataDir>/pins. */
  readonly pins: readonly string[];
}

export function restoreBackup(from: string, dataDir: string, pinsDir: string): RestoreResult {
  const check = verifyBackup(from);
  if (!check.ok) throw new Error(`the backup in ${from} does not verify; nothing was restored:\n  ${check.problems.join('\n  ')}`);
  const manifest = check.manifest!;
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) throw new Error(`${dataDir} is not empty: a backup is restored into a new or empty data directory`);
  if (!existsSync(pinsDir) || !statSync(pinsDir).isDirectory()) throw new Error(`no PIN directory at ${pinsDir} (the pins/ folder of the data directory the backup was taken from, kept apart)`);
  const pins = readdirSync(pinsDir).filter((name) => name.endsWith('.pin')).sort();
  if (manifest.contents.tokens.length > 0 && !pins.includes('user.pin')) throw new Error(`${pinsDir} has no user.pin: the restored default key store's token cannot be opened without it`);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  for (const name of readdirSync(from)) {
    if (name === 'keybridge-backup.json') continue;
    cpSync(join(from, name), join(dataDir, name), { recursive: true });
  }
  mkdirSync(join(dataDir, 'pins'), { mode: 0o700 });
  for (const name of pins) {
    cpSync(join(pinsDir, name), join(dataDir, 'pins', name));
    chmodSync(join(dataDir, 'pins', name), 0o600);
  }
  return { dataDir, manifest, pins };
}
