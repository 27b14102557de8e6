// The processes a process started (a `--workers` primary's workers), read from /proc.

import { readdirSync, readFileSync } from 'node:fs';

/** The pids of `parent`'s live child processes (not zombies: exited, not yet reaped). */
export function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // After the command name in parentheses: the state (field 3), then the parent pid (field 4).
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(ppid) === parent && state !== 'Z';
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}
