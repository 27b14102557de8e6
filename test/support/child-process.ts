// Stopping a server a test started as a child process, as an operator would: SIGTERM, then SIGKILL.

import type { ChildProcess } from 'node:child_process';

/** SIGTERM, and SIGKILL if it has not exited after `graceMs`. Does nothing once it has exited. */
export async function stopChild(child: ChildProcess | undefined, graceMs = 10_000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
