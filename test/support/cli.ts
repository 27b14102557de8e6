// Runs the operator CLI as operators do: the compiled src/cli/main.js in a child process, with only
// PATH and HOME from this process (no AWS_* or KEYBRIDGE_* of the developer's shell leaks in).
// Asynchronous, so a server running in the test process keeps answering meanwhile.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { TestServer } from './server.js';

export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], options: { home?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(options.home === undefined ? {} : { HOME: options.home }), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `keybridge --endpoint-url … --data-dir … --region … <args>` against a test server (operator profile unless `args` say otherwise). */
export function runCliAgainst(server: Pick<TestServer, 'url' | 'dataDir' | 'region'>, args: readonly string[]): Promise<CliRun> {
  return runCli(['--endpoint-url', server.url, '--data-dir', server.dataDir, '--region', server.region, ...args], { home: server.dataDir });
}
