// keybridge as a separate process (`node dist/src/main.js`), for tests that need two servers: one
// process holds one SoftHSM2 configuration, so a second keybridge runs in its own. Its data
// directory outlives a stop, so the same server can be started again.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopChild } from './child-process.js';
import { freePort } from './free-port.js';
import { REPO_ROOT } from './repo-root.js';
import { until } from './until.js';

const MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

export interface ChildKeybridge {
  readonly url: string;
  readonly region: string;
  readonly dataDir: string;
  readonly credentialsFile: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly child: ChildProcess;
  /** What the process wrote to stderr so far (start-up messages, errors). */
  stderr(): string;
  /** SIGTERM, and SIGKILL after 10 s. The data directory stays. */
  stop(): Promise<void>;
}

/**
 * Starts keybridge on `dataDir` with `config` (a configuration file) on a free port, and waits for
 * /readyz. Several nodes on one data directory (a shared PostgreSQL store) each need their own
 * `node` name; `args` go to main.js (e.g. --workers 2).
 */
export async function startChildKeybridge(
  dataDir: string,
  config: Record<string, unknown>,
  port?: number,
  options: { readonly node?: string; readonly args?: readonly string[] } = {},
): Promise<ChildKeybridge> {
  const listenPort = port ?? (await freePort());
  const configFile = join(dataDir, options.node === undefined ? 'child-config.json' : `child-config-${options.node}.json`);
  writeFileSync(configFile, JSON.stringify({ listen: { host: '127.0.0.1', port: listenPort }, ...config }));
  const env: Record<string, string | undefined> = { ...process.env, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_CONFIG: configFile, KEYBRIDGE_LOG_LEVEL: 'info' };
  delete env.KEYBRIDGE_PORT;
  const child = spawn(process.execPath, [MAIN, ...(options.args ?? [])], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${listenPort}`;
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`keybridge exited with ${child.exitCode}:\n${stderr}`);
      return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
    }, 60_000, `keybridge at ${url} to be ready`, 100);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  const credentialsFile = join(dataDir, 'credentials');
  const ini = readFileSync(credentialsFile, 'utf8');
  return {
    url,
    region: 'us-east-1',
    dataDir,
    credentialsFile,
    credentials: {
      accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(ini)![1]!,
      secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(ini)![1]!,
    },
    child,
    stderr: () => stderr,
    stop: () => stopChild(child),
  };
}
