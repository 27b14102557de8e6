// The cluster-resilience scenario (bench/chaos.ts) in its short form: a two-member cluster in
// keybridge replication mode under steady Encrypt / Decrypt / GenerateDataKey load, member A's
// device failing at 1/5 of the run and returning at 2/5, member B's token leaving the slot list at
// 3/5 and returning at 4/5 (issue #19). `scripts/chaos.sh` runs the long form.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CHAOS_CLUSTER, runChaos, type ChaosReport } from '../../bench/chaos.js';
import { runCli, type CliRun } from '../support/cli.js';
import type { TestServer } from '../support/server.js';

function cli(server: TestServer, args: readonly string[]): Promise<CliRun> {
  return runCli(['--endpoint-url', server.url, '--data-dir', server.dataDir, ...args], { home: server.dataDir });
}

test('a member down and back, then a token gone and back, under load: no client-visible failure, nothing lost, every transition visible', { timeout: 120_000 }, async () => {
  let metrics = '';
  let table = '';
  let json: { Members: Array<{ Name: string; State: string; Resets: number }>; Replication: string } | undefined;
  const report: ChaosReport = await runChaos({
    durationMs: 10_000,
    rate: 80,
    async inspect(server, storeId) {
      metrics = await (await fetch(`${server.url}/metrics`)).text();
      const t = await cli(server, ['keystore', 'health', storeId]);
      assert.equal(t.code, 0, t.stderr);
      table = t.stdout;
      const j = await cli(server, ['--output', 'json', 'keystore', 'health', '--id', storeId]);
      assert.equal(j.code, 0, j.stderr);
      json = JSON.parse(j.stdout);
    },
  });

  assert.ok(report.requests >= 650, `only ${report.requests} requests`);
  assert.deepEqual(report.failures, {}, 'client-visible failures');
  assert.ok(report.ciphertexts > 100);
  assert.equal(report.undecryptable, 0, 'every ciphertext of the run decrypts');
  assert.equal(report.outageKeyWorksOnReturnedMember, true, 'the key made during the outage is on the returning member');
  assert.equal(report.allDown.error, 'KMSInvalidStateException');
  assert.ok(report.allDown.ms < 1_000, `all members down took ${report.allDown.ms} ms to answer`);
  assert.ok(report.msToUnavailable !== undefined && report.msToUnavailable < 2_000);
  assert.ok(report.msToActive !== undefined && report.msToActive < 5_000);
  // B's token: out within the deep-check period, back within the backoff ceiling (30 s) — here at
  // once, as B is retried often while its outage is short.
  assert.ok(report.tokenLoss.msToUnavailable < 2_000, `B marked UNAVAILABLE after ${report.tokenLoss.msToUnavailable} ms`);
  assert.ok(report.tokenLoss.msToActive < 5_000, `B ACTIVE ${report.tokenLoss.msToActive} ms after its token returned`);
  // A deep check slower than slowCheckMs on a loaded machine marks a member DEGRADED (still
  // serving) and ACTIVE again: correct, and not what this test is about — out of service and back
  // is. So DEGRADED counts as serving here, and serving → serving is no transition.
  const serving = report.transitions.map((t) => t.replaceAll('DEGRADED', 'ACTIVE')).filter((t) => t !== 'a: ACTIVE → ACTIVE');
  assert.deepEqual(serving.filter((t) => t.startsWith('a:')).slice(0, 2), ['a: ACTIVE → UNAVAILABLE', 'a: UNAVAILABLE → ACTIVE']);
  const b = serving.filter((t) => t.startsWith('b:') && t !== 'b: ACTIVE → ACTIVE');
  assert.deepEqual(b.slice(0, 2), ['b: ACTIVE → UNAVAILABLE', 'b: UNAVAILABLE → ACTIVE'], `transitions ${serving.join(', ')}`);
  assert.ok(serving.indexOf('a: UNAVAILABLE → ACTIVE') < serving.indexOf('b: ACTIVE → UNAVAILABLE'), 'one fault at a time');

  // The health command, as a table and as JSON, after the run (both members back).
  assert.match(table, new RegExp(`\\(${CHAOS_CLUSTER}\\): CONNECTED, replication keybridge, 2 of 2 members serving`));
  assert.match(table, /^a\s+ACTIVE\s/m);
  assert.equal(json?.Replication, 'keybridge');
  assert.deepEqual(json?.Members.map((m) => [m.Name, m.State]), [['a', 'ACTIVE'], ['b', 'ACTIVE']]);
  assert.ok((json?.Members[0]?.Resets ?? 0) >= 1, 'member a was reset to come back');

  // Prometheus: each transition, member states, per-member latency, errors by CKR, requests.
  const line = (re: RegExp) => assert.match(metrics, re, `no line matching ${re}`);
  line(new RegExp(`keybridge_cluster_member_transitions_total\\{cluster="${CHAOS_CLUSTER}",member="a",to="UNAVAILABLE"\\} [1-9]`));
  line(new RegExp(`keybridge_cluster_member_transitions_total\\{cluster="${CHAOS_CLUSTER}",member="a",to="ACTIVE"\\} [1-9]`));
  line(/keybridge_cluster_member_state\{custom_key_store="cks-[0-9a-f]+",cluster="[^"]+",member="a",state="ACTIVE"\} 1/);
  line(/keybridge_hsm_errors_total\{cluster="[^"]+",member="a",ckr="CKR_DEVICE_REMOVED"\} [1-9]/);
  line(/keybridge_hsm_call_duration_seconds_bucket\{le="0\.005",cluster="[^"]+",member="b",operation="encrypt",outcome="ok"\} [1-9]/);
  line(/keybridge_pool_sessions\{cluster="[^"]+",member="b",kind="limit"\} \d+/);
  line(/keybridge_requests_total\{operation="Encrypt",outcome="Success"\} [1-9]/);
});
