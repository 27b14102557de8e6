// `keybridge --workers N` (src/workers.ts): N node processes on one machine sharing the port, on a
// PostgreSQL store. Every worker serves, all writing one audit trail in the database; SIGTERM stops them all. And SQLite, which serves one node, refuses more than one.
//
// Skips only when PostgreSQL's server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms';
import pg from 'pg';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { sdkClient } from '../support/kms-client.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { REPO_ROOT } from '../support/repo-root.js';
import { makeDataDir } from '../support/server.js';
import { until } from '../support/until.js';
import { childrenOf } from '../support/child-pids.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();


/** How many distinct nodes (workers) wrote records to the shared audit trail. */
async function auditWriters(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(DISTINCT written_by)::int AS n FROM audit_records');
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

describe('--workers on PostgreSQL', { skip: missing ?? false }, () => {
  let db: TestDatabase;
  let dataDir: string;
  let node: ChildKeybridge;
  let kms: KMSClient;

  before(async () => {
    db = await createTestDatabase();
    const lab = await sharedPostgresLab();
    dataDir = makeDataDir();
    node = await startChildKeybridge(dataDir, { store: postgresStoreConfig(lab, db) }, undefined, { args: ['--workers', '2'] });
    kms = sdkClient(node);
  });

  after(async () => {
    kms?.destroy();
    await node?.stop();
    await db?.drop();
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  test('two workers serve the port, both writing to the one audit trail in PostgreSQL', async () => {
    await until(async () => childrenOf(node.child.pid!).length === 2, 30_000, 'two worker processes');
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}));
    const calls = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from(`call ${i}`) }));
        return Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob }))).Plaintext!).toString();
      }),
    );
    assert.deepEqual(calls, Array.from({ length: 40 }, (_, i) => `call ${i}`));
    // node:cluster hands each new connection to the next worker: calls on fresh connections reach
    // both (once the second has started listening), and the trail holds records of both.
    await until(
      async () => {
        const fresh = sdkClient(node);
        try {
          await fresh.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: Buffer.from('fresh connection') }));
        } finally {
          fresh.destroy();
        }
        return (await auditWriters(db.url)) === 2;
      },
      30_000,
      'records of both workers in the trail',
      100,
    );
  });

  test('SIGTERM stops every worker, then the primary exits 0', async () => {
    const workers = childrenOf(node.child.pid!);
    const exited = new Promise<number | null>((resolve) => node.child.once('exit', (code) => resolve(code)));
    node.child.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const pid of workers) assert.equal(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), false, `worker ${pid} outlived the primary`);
  });
});

test('--workers 2 with the SQLite store refuses to start, saying why', () => {
  const dataDir = makeDataDir();
  try {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'src', 'main.js'), '--workers', '2'], {
      env: { ...process.env, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /--workers above 1 needs the PostgreSQL store/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
