// The processes a process started (a `--workers` primary's workers), read from /proc.

import { readdirSync, readFileSync } from 'node:fs';

/** The pids of `parent`'s child processes. */
export function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // Field 4 of /proc/PID/stat, after the command name in parentheses, is the parent pid.
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
