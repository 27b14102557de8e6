// The benchmark (bench/run.ts) in its seconds-long smoke mode, so `npm test` keeps it working:
// every row of the table is there and no request failed. Not a performance test: the figures are
// not checked, only that each scenario ran against a real server and got answers.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { SUITE_ROWS } from '../../bench/suites.js';
import { WORKER_COUNTS, workersScenario } from '../../bench/workers.js';
import { XKS_ROWS } from '../../bench/xks.js';
import { postgresLabMissing } from '../support/postgres-lab.js';
import { tokenLabMissing } from '../support/token-lab.js';

const run = promisify(execFile);
/** The compiled benchmark next to this compiled test (dist/ or a private build tree). */
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');

interface Row {
  scenario: string;
  target: string;
  concurrency: number;
  requestsPerSecond: number;
  errors: number;
  eventLoopP99Ms: number | null;
}

const NETWORK_ROWS = ['Encrypt 32 B, network HSM (1 ms/call, 32 sessions)', 'Encrypt 32 B, network HSM (5 ms/call, 32 sessions)'];
const HUNG_ROWS = {
  baseline: 'Encrypt 32 B, default store, custom store healthy',
  hung: 'Encrypt 32 B, default store, custom store member hung',
  side: 'Encrypt 32 B, custom store, member hung (paced side load)',
};

// Each faulty-module row starts its own server (network rows: 32 workers to warm up; the hung
// rows: a custom key store to create and connect), so the run takes about half a minute on 2 cores.
test('npm run bench in smoke mode prints every row with zero errors', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keybridge-bench-smoke-test-'));
  try {
    const resultsFile = join(dir, 'results.json');
    // Only smoke-mode settings: a BENCH_* left in the caller's environment must not stretch or
    // change the run.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BENCH_')));
    const { stdout, stderr } = await run(process.execPath, [BENCH], {
      env: { ...env, BENCH_SMOKE: '1', BENCH_RESULTS: resultsFile },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 170_000,
    });
    const results = JSON.parse(await readFile(resultsFile, 'utf8')) as { smoke: boolean; raw: { opsPerSecond: number }; rows: Row[]; targets: Record<string, unknown> };
    assert.equal(results.smoke, true);
    assert.ok(results.raw.opsPerSecond > 0, 'the raw PKCS#11 rate was measured');

    const expected = [
      'Encrypt 32 B',
      'Encrypt 4 KiB',
      'Decrypt 32 B',
      'GenerateDataKey AES_256',
      'TagResource (intent + outcome)',
      'Encrypt 32 B @ 1,800 rps',
      SUITE_ROWS.softhsmEncrypt,
      SUITE_ROWS.softhsmDecrypt,
      // CI installs openCryptoki (.ci/run): there its rows must be present.
      ...(process.env.CI === 'true' || tokenLabMissing('opencryptoki') === undefined ? [SUITE_ROWS.ockEncrypt, SUITE_ROWS.ockDecrypt] : []),
      ...NETWORK_ROWS,
      HUNG_ROWS.baseline,
      HUNG_ROWS.hung,
      HUNG_ROWS.side,
      ...XKS_ROWS,
      // CI installs PostgreSQL (.ci/run): there the worker rows must be present.
      ...(process.env.CI === 'true' || postgresLabMissing() === undefined ? WORKER_COUNTS.map(workersScenario) : []),
    ];
    assert.deepEqual(
      results.rows.map((r) => r.scenario),
      expected,
    );
    for (const row of results.rows) {
      assert.equal(row.target, 'keybridge');
      // The store whose member hangs may fail requests, or in a 0.5 s row answer none (its calls
      // wait up to the 1 s call deadline): only the other rows must answer, without errors.
      if (row.scenario !== HUNG_ROWS.side) {
        // The benchmark says on stderr which errors a row had (statuses, transport errors, timeouts).
        assert.equal(row.errors, 0, `${row.scenario}: no failed requests\n${stderr.split('\n').filter((l) => l.includes('statuses') || l.includes('the same request once more')).join('\n')}`);
        assert.ok(row.requestsPerSecond > 0, `${row.scenario}: requests were answered`);
      }
      assert.equal(typeof row.eventLoopP99Ms, 'number', `${row.scenario}: the server reported its event-loop delay`);
      // The printed table has the row too.
      assert.ok(stdout.includes(`| ${row.scenario} | keybridge | ${row.concurrency} |`), `${row.scenario} is in the printed table`);
    }
    for (const scenario of NETWORK_ROWS) {
      assert.equal(results.rows.find((r) => r.scenario === scenario)!.concurrency, 64, `${scenario}: 32 sessions kept busy by 64 connections`);
    }
    assert.equal(results.rows.find((r) => r.scenario === HUNG_ROWS.hung)!.concurrency, 64);
    for (const name of ['encryptC64VsRaw', 'encryptC64CpuUsPerRequest', 'quotaP99Ms', 'networkHsm1ms', 'networkHsm5ms', 'hungMember', 'eventLoopP99Ms']) {
      assert.ok(name in results.targets, `the targets have ${name}`);
    }
    const hung = results.targets.hungMember as { livezMaxMs: { probes: number; failures: number } };
    assert.ok(hung.livezMaxMs.probes > 0, '/livez was probed during the hang');
    assert.equal(hung.livezMaxMs.failures, 0, '/livez answered every probe during the hang');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
