// One process at a time prepares a data directory. Several keybridge processes may share one (the
// nodes of a test deployment on one SoftHSM2 token directory, or `--workers`): two first starts at
// the same moment would each initialise a token under the same label and write the PIN files and
// credentials twice. The lock is a file created exclusively (O_EXCL) holding the owner's pid;
// the others wait for it to go. A lock whose owner died (its pid is gone) is taken over.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SETUP_LOCK_FILE = '.setup.lock';
const POLL_MS = 100;
/** Far longer than a first start's setup takes (token initialisation is the slow part: seconds). */
const WAIT_LIMIT_MS = 120_000;

export async function withSetupLock<T>(dataDir: string, work: () => Promise<T>): Promise<T> {
  const path = join(dataDir, SETUP_LOCK_FILE);
  const giveUpAt = Date.now() + WAIT_LIMIT_MS;
  while (!tryCreate(path)) {
    const owner = ownerOf(path);
    if (owner !== undefined && !alive(owner)) {
      // Its owner died mid-setup; what it left is checked by the setup itself (it never overwrites).
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() > giveUpAt) throw new Error(`another keybridge process (pid ${owner ?? '?'}) has been preparing ${dataDir} for over ${WAIT_LIMIT_MS / 1000} s; if none is running, remove ${path}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  try {
    return await work();
  } finally {
    rmSync(path, { force: true });
  }
}

function tryCreate(path: string): boolean {
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The pid in the lock file; undefined while its owner is still writing it (or it just went). */
function ownerOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}
