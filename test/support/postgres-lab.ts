// PostgreSQL lab: throw-away PostgreSQL clusters for tests, each with all its state in a fresh
// temporary directory, started and stopped by scripts/postgres-lab.sh (in the style of token-lab.ts).
//
// Callers skip when postgresLabMissing() names a reason, except under CI (process.env.CI === 'true',
// set by .ci/run, which installs PostgreSQL): there they must run, and so fail, e.g.
//   const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();
//   describe('…', { skip: missing ?? false }, () => { … });
//
// A lab's server does not die with the test process by itself (pg_ctl daemonizes it), so every lab
// is stopped twice over: synchronously on the process's 'exit' event, and by a detached watchdog
// that stops it once the test process is gone without one (SIGKILL, a signal's default action).

import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

import { REPO_ROOT } from './repo-root.js';

const execFileAsync = promisify(execFile);

const SCRIPT = join(REPO_ROOT, 'scripts', 'postgres-lab.sh');
// Starting takes ~1.5 s (initdb ~1 s); pg_ctl itself waits up to 60 s, the rest is margin.
const SCRIPT_TIMEOUT_MS = 90_000;

export interface PostgresLab {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: 'postgres';
  /** The superuser's password, one line, mode 0600, in its own temporary directory. */
  readonly passwordFile: string;
  readonly password: string;
  /** The temporary directory holding the cluster (DIR/data), its socket and its logs (DIR/*.log). */
  readonly dir: string;
  /** postgres://postgres:…@127.0.0.1:port/database (default database: postgres) */
  adminUrl(database?: string): string;
  /** Stops the server (fast shutdown), keeping data and port; a no-op when halted. */
  halt(): Promise<void>;
  /** Starts a halted server again, same data and port; a no-op when running. */
  startAgain(): Promise<void>;
  /** Stops the server and removes dir and the password file; safe to call more than once. */
  stop(): Promise<void>;
}

/** undefined when PostgreSQL is installed; otherwise the reason (missing package), for a skip message */
export function postgresLabMissing(): string | undefined {
  const result = spawnSync('bash', [SCRIPT, 'check'], { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
  if (result.status === 0) return undefined;
  const reason = (result.stderr ?? '').trim() || result.error?.message || `exit status ${String(result.status)}`;
  return `PostgreSQL lab unavailable: ${reason}`;
}

async function runScript(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('bash', [SCRIPT, ...args], { timeout: SCRIPT_TIMEOUT_MS, killSignal: 'SIGKILL' });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    const detail = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : String(error);
    throw new Error(`postgres-lab.sh ${args[0] ?? ''} failed: ${detail}`, { cause: error });
  }
}

/** Labs not stopped yet, for the synchronous cleanup on 'exit' (no promises run there). */
const running = new Map<string, { secretDir: string }>();
let exitHookInstalled = false;
/** dirs of the labs stop() was called on: their databases are gone with them */
const stopped = new Set<string>();

function stopAllNow(): void {
  for (const [dir, { secretDir }] of running) {
    spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: SCRIPT_TIMEOUT_MS });
    rmSync(secretDir, { recursive: true, force: true });
  }
  running.clear();
}

/**
 * Stops the lab once this process is gone, however it ended. Detached (own process group, no pipes to us), so that
 * neither a signal to our group nor the test runner waiting for our stdio involves it.
 */
function startWatchdog(dir: string, secretDir: string): number | undefined {
  const child = spawn(
    'bash',
    ['-c', 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" stop "$3"; rm -rf "$4"', 'postgres-lab-watchdog',
      String(process.pid), SCRIPT, dir, secretDir],
    { detached: true, stdio: 'ignore' },
  );
  child.on('error', () => undefined); // best effort: the 'exit' hook still covers normal exits
  child.unref();
  return child.pid;
}

export async function startPostgresLab(): Promise<PostgresLab> {
  const password = randomBytes(18).toString('base64url');
  const secretDir = await mkdtemp(join(tmpdir(), 'keybridge-postgres-secret-'));
  const passwordFile = join(secretDir, 'password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  const dir = await mkdtemp(join(tmpdir(), 'keybridge-postgres-'));

  running.set(dir, { secretDir });
  if (!exitHookInstalled) {
    process.on('exit', stopAllNow);
    exitHookInstalled = true;
  }
  const watchdog = startWatchdog(dir, secretDir);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    // The script removes dir; rm again in case the script could not run at all.
    stopped.add(dir);
    stopping ??= runScript(['stop', dir])
      .finally(async () => {
        running.delete(dir);
        if (watchdog !== undefined) {
          try {
            process.kill(-watchdog, 'SIGKILL'); // its group: the bash loop and its sleep
          } catch {
            // already gone
          }
        }
        await rm(dir, { recursive: true, force: true });
        await rm(secretDir, { recursive: true, force: true });
      })
      .then(() => undefined);
    return stopping;
  };

  let port: number;
  try {
    const out = (await runScript(['start', dir, passwordFile])).trim();
    port = Number(out);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`postgres-lab.sh start printed ${JSON.stringify(out)}, not a port`);
  } catch (error) {
    await stop().catch(() => undefined); // a failed start may have left the server running
    throw new Error(`could not start a PostgreSQL lab: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }

  const notStopped = (what: string): void => {
    if (stopping !== undefined) throw new Error(`PostgreSQL lab ${dir}: ${what} after stop()`);
  };
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    passwordFile,
    password,
    dir,
    adminUrl: (database = 'postgres') =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    halt: async () => {
      notStopped('halt()');
      await runScript(['halt', dir]);
    },
    startAgain: async () => {
      notStopped('startAgain()');
      await runScript(['start-again', dir]);
    },
    stop,
  };
}

let shared: Promise<PostgresLab> | undefined;

/**
 * One lab per test process, started on the first call and stopped when the process exits. Tests that
 * halt or stop PostgreSQL should start their own lab instead: other tests in the process share this one.
 */
export function sharedPostgresLab(): Promise<PostgresLab> {
  shared ??= startPostgresLab().catch((error: unknown) => {
    shared = undefined; // let a later call try again
    throw error;
  });
  return shared;
}

async function withAdminClient<T>(lab: PostgresLab, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: lab.adminUrl(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a server going away while idle must not crash the test process
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  /** postgres://postgres:…@127.0.0.1:port/name */
  url: string;
  name: string;
  /** Ends the connections still open to the database and drops it; safe to call more than once. */
  drop(): Promise<void>;
}

/** A fresh, empty database kb_test_<hex> on `lab` (default: the shared lab). */
export async function createTestDatabase(lab?: PostgresLab): Promise<TestDatabase> {
  const target = lab ?? (await sharedPostgresLab());
  const name = `kb_test_${randomBytes(6).toString('hex')}`; // a plain identifier: no quoting issues
  await withAdminClient(target, (client) => client.query(`CREATE DATABASE ${name}`));
  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> => {
    // A lab already stopped took the database with it.
    if (stopped.has(target.dir)) return Promise.resolve();
    dropping ??= withAdminClient(target, async (client) => {
      // WITH (FORCE) (PostgreSQL 13+) ends the remaining sessions itself; before 13, end them first.
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      const { rows } = await client.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version_num']);
      const force = Number(rows[0]?.v ?? 0) >= 130000 ? ' WITH (FORCE)' : '';
      await client.query(`DROP DATABASE IF EXISTS ${name}${force}`);
    }).catch((error: unknown) => {
      dropping = undefined; // may be tried again
      throw error;
    });
    return dropping;
  };
  return { url: target.adminUrl(name), name, drop };
}

/** keybridge's `store` setting for `db` on `lab` (the password read from the lab's password file). */
export function postgresStoreConfig(lab: PostgresLab, db: TestDatabase, limits: { connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Record<string, unknown> {
  return { kind: 'postgres', host: lab.host, port: lab.port, database: db.name, user: lab.user, password: { file: lab.passwordFile }, ...limits };
}
