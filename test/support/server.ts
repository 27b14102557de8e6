// Starts a real keybridge in this test process: embedded SoftHSM2 token and SQLite store (or PostgreSQL, below) in a
// temp data directory, a real HTTP listener on a free loopback port, and an injectable clock.
// One data directory per test file (SoftHSM2 reads its configuration once per process).

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { compose, type Keybridge } from '../../src/compose.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logger.js';
import type { Clock } from '../../src/ports/clock.js';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './postgres-lab.js';

export class TestClock implements Clock {
  private offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestServer {
  readonly url: string;
  readonly region: string;
  readonly accountId: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly credentialsFile: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  readonly clock: TestClock;
  readonly keybridge: Keybridge;
  /**
   * The server's warnings and errors so far (failed requests with their causes, member state
   * changes, written-off workers), one short line each, the last `limit`: for a test to print when
   * it fails, since CI keeps the test's output and not the data directory.
   */
  problems(limit?: number): Promise<string[]>;
  /** Closes the server; the data directory stays for a restart. */
  stop(): Promise<void>;
  /** Closes the server and removes the data directory. */
  destroy(): Promise<void>;
}

/**
 * KEYBRIDGE_TEST_SYMMETRIC_SUITE=AES_256_CBC_HMAC_SHA_256 runs a test's servers with the default key
 * store forced to that suite (scripts/test.sh runs the symmetric end-to-end tests once more so, as
 * on an HSM without AES-GCM). A test's own settings still win.
 */
function forcedSuite(): Record<string, unknown> {
  const suite = process.env['KEYBRIDGE_TEST_SYMMETRIC_SUITE'];
  return suite === undefined || suite === '' ? {} : { defaultKeyStoreSymmetricSuite: suite };
}

/**
 * KEYBRIDGE_TEST_STORE=postgres runs a test's servers on a fresh PostgreSQL database of the shared
 * lab instead of SQLite (scripts/test.sh runs the end-to-end tests once more so). One database per
 * data directory, so a restart on the same directory finds its metadata; destroy() drops it.
 */
const databases = new Map<string, TestDatabase>();
async function forcedStore(dataDir: string): Promise<Record<string, unknown>> {
  if (process.env['KEYBRIDGE_TEST_STORE'] !== 'postgres') return {};
  let db = databases.get(dataDir);
  if (db === undefined) {
    db = await createTestDatabase();
    databases.set(dataDir, db);
  }
  const url = new URL(db.url);
  process.env['KEYBRIDGE_TEST_PG_PASSWORD'] = decodeURIComponent(url.password);
  return {
    store: { kind: 'postgres', host: url.hostname, port: Number(url.port), database: db.name, user: decodeURIComponent(url.username), password: { env: 'KEYBRIDGE_TEST_PG_PASSWORD' } },
  };
}

/**
 * Every row of the PostgreSQL metadata database of a server started on `dataDir` under
 * KEYBRIDGE_TEST_STORE=postgres, as text (for tests that search what keybridge stored); undefined
 * when that server's metadata is in the data directory (SQLite).
 */
export async function postgresMetadataDump(dataDir: string): Promise<string | undefined> {
  const db = databases.get(dataDir);
  if (db === undefined) return undefined;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'");
    let dump = '';
    for (const { name } of tables) {
      const { rows } = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" t`);
      dump += rows.map((r) => r.row).join('\n');
    }
    return dump;
  } finally {
    await client.end();
  }
}

/** The PostgreSQL database (URL) of a server started on `dataDir` under KEYBRIDGE_TEST_STORE=postgres; undefined for SQLite. */
export function postgresDatabaseOf(dataDir: string): string | undefined {
  return databases.get(dataDir)?.url;
}

async function dropForcedStore(dataDir: string): Promise<void> {
  const db = databases.get(dataDir);
  databases.delete(dataDir);
  await db?.drop();
}

/** Lines of level warn and above in a pino log file, each as `+ms level msg {fields}` (err: its message and code only). */
function problemsIn(logFile: string): string[] {
  if (!existsSync(logFile)) return [];
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((line) => line !== '');
  const records = lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return []; // a line the logger was still writing
    }
  });
  const start = typeof records[0]?.time === 'number' ? records[0].time : 0;
  return records
    .filter((record) => typeof record.level === 'number' && record.level >= 40)
    .map(({ level, time, msg, err, pid: _pid, hostname: _host, service: _service, ...fields }) => {
      const cause = err as { message?: string; code?: string; cause?: { message?: string } } | undefined;
      const errText = cause === undefined ? '' : ` err=${JSON.stringify({ message: cause.message, code: cause.code, cause: cause.cause?.message })}`;
      return `+${typeof time === 'number' ? time - start : '?'}ms ${level === 40 ? 'WARN' : 'ERROR'} ${String(msg)} ${JSON.stringify(fields)}${errText}`;
    });
}

/** Runs a test's `body`; when it fails, the server's problems (above) go into the test's output first. */
export async function explainingFailure(t: TestContext, server: TestServer, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    for (const line of await server.problems()) t.diagnostic(`server: ${line}`);
    throw error;
  }
}

export function makeDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'keybridge-test-'));
}

/** `node` names the node (work claims, reports, the shared trail) when a test runs several on one store. */
export async function startServer(options: { dataDir?: string; clock?: TestClock; settings?: Record<string, unknown>; node?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? makeDataDir();
  const logFile = join(dataDir, 'keybridge.log');
  const config = parseConfig({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logLevel: 'debug', logFile, ...forcedSuite(), ...(await forcedStore(dataDir)), ...options.settings }, dataDir);
  const logger = createLogger({ level: config.logLevel, file: logFile });
  const clock = options.clock ?? new TestClock();
  const keybridge = await compose(config, { logger, clock, ...(options.node === undefined ? {} : { node: options.node }) });
  const url = await keybridge.listen();
  const access = keybridge.accessKeys.get(config.credentialsProfile)!;
  const stop = async () => {
    await keybridge.close();
    logger.flush();
  };
  return {
    url,
    region: config.region,
    accountId: config.accountId,
    dataDir,
    logFile,
    credentialsFile: config.credentialsFile!,
    credentials: { accessKeyId: access.accessKeyId, secretAccessKey: access.secretAccessKey },
    clock,
    keybridge,
    async problems(limit = 40) {
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
      return problemsIn(logFile).slice(-limit);
    },
    stop,
    async destroy() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      await dropForcedStore(dataDir);
    },
  };
}
