// The audit trail on a real SQLite file: group commit, durability settings, fail-closed writes
// (a real EFBIG from RLIMIT_FSIZE), tamper detection made directly in the file with
// better-sqlite3 and through the CLI, retention with a verifiable anchor, export and tail.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pino from 'pino';
import { AuditTrail } from '../../src/audit/audit-store.js';
import { GENESIS_HASH, canonicalJson, chainRecords, hashOfStored } from '../../src/audit/chain.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';
import { exportAuditFile, MANIFEST_NAME } from '../../src/audit/export.js';
import { buildApiCallEvent } from '../../src/audit/record.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { CLI_MAIN, runCli, type CliRun } from '../support/cli.js';

const FILL = fileURLToPath(new URL('./fixtures/fill-disk.js', import.meta.url));
const SANDBOX = mkdtempSync(join(tmpdir(), 'keybridge-audit-'));
after(() => rmSync(SANDBOX, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });
let dirs = 0;
const newDir = () => mkdtempSync(join(SANDBOX, `d${++dirs}-`));

function event(i: number, time = new Date(Date.UTC(2025, 0, 1, 0, 0, i))): CloudTrailEvent {
  return buildApiCallEvent({
    time, requestId: `req-${i}`, region: 'us-east-1', account: '111122223333', sourceIp: '127.0.0.1', userAgent: 'test',
    principal: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', userName: 'alice', accessKeyId: 'AKIDEXAMPLE' },
    eventName: 'Encrypt', request: { KeyId: 'alias/app', Plaintext: 'AAAA', EncryptionContext: { n: String(i) } }, response: {},
    key: { arn: 'arn:aws:kms:us-east-1:111122223333:key/k1', accountId: '111122223333' },
  });
}

async function trailWith(n: number, dir = newDir(), start = 1): Promise<string> {
  const trail = await AuditTrail.open({ path: join(dir, 'audit.db'), logger });
  await Promise.all(Array.from({ length: n }, (_, i) => trail.append(event(start + i))));
  await trail.close();
  return dir;
}

function cli(args: readonly string[]): Promise<CliRun> {
  return runCli(args, { home: SANDBOX });
}

function tamper(dir: string, fn: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'audit.db'));
  fn(db);
  db.close();
}

describe('chain (pure)', () => {
  test('canonical JSON sorts keys at every depth and ignores undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: null }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[1,{"y":null,"z":1}]},"b":1}');
  });
  test('links: seq, prevHash and hash; the hash covers seq, prevHash and content', () => {
    const links = chainRecords({ seq: 0, hash: GENESIS_HASH }, ['{"a":1}', '{"b":2}']);
    assert.deepEqual(links.map((l) => l.seq), [1, 2]);
    assert.equal(links[0]!.prevHash, GENESIS_HASH);
    assert.equal(links[1]!.prevHash, links[0]!.hash);
    assert.equal(hashOfStored(1, GENESIS_HASH, '{ "a" : 1 }'), links[0]!.hash, 'whitespace and key order do not matter');
    assert.notEqual(hashOfStored(2, GENESIS_HASH, '{"a":1}'), links[0]!.hash);
    assert.notEqual(hashOfStored(1, links[1]!.hash, '{"a":1}'), links[0]!.hash);
    assert.notEqual(hashOfStored(1, GENESIS_HASH, '{"a":2}'), links[0]!.hash);
  });
});

describe('AuditTrail', () => {
  test('group commit: 2,000 concurrent appends in a handful of transactions; all durable and chained', async (t) => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger });
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 2000 }, (_, i) => trail.append(event(i))));
    const concurrentMs = Number(process.hrtime.bigint() - started) / 1e6;
    const { transactions, appended, largestBatch } = trail.stats;
    const seqStart = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) await trail.append(event(i));
    const sequentialMs = Number(process.hrtime.bigint() - seqStart) / 1e6;
    t.diagnostic(`2000 concurrent appends: ${transactions} transactions (largest ${largestBatch}), ${concurrentMs.toFixed(1)} ms; 200 sequential appends: ${sequentialMs.toFixed(1)} ms (${(sequentialMs / 200).toFixed(2)} ms each, one fsync each)`);
    assert.equal(appended, 2000);
    assert.ok(transactions <= 10, `${transactions} transactions for 2000 concurrent appends`);
    await trail.close();
    const result = verifyAuditFile(path);
    assert.deepEqual({ ok: result.ok, records: result.records, head: result.head.seq }, { ok: true, records: 2200, head: 2200 });
    // Durability settings and file mode, read back from the file.
    const db = new Database(path, { readonly: true });
    assert.equal(String(db.pragma('journal_mode', { simple: true })), 'wal');
    db.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('close() commits everything queued; reopening continues the chain; appends after close reject', async () => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger });
    const pending = Array.from({ length: 50 }, (_, i) => trail.append(event(i)));
    await trail.close();
    await Promise.all(pending);
    await assert.rejects(trail.append(event(99)), { name: 'AuditWriteError' });
    const again = await AuditTrail.open({ path, logger });
    await again.append(event(100));
    await again.close();
    assert.deepEqual(verifyAuditFile(path).records, 51);
  });

  test('fails closed: when the file cannot grow (RLIMIT_FSIZE, EFBIG) append rejects, and the trail stays verifiable', () => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const run = spawnSync('bash', ['-c', `ulimit -f 512; exec "${process.execPath}" "${FILL}" "${path}"`], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { committed: number; error?: { name: string; message: string; code?: string }; again: string };
    assert.ok(out.committed > 10, `committed ${out.committed} before the limit`);
    assert.equal(out.error?.name, 'AuditWriteError', JSON.stringify(out));
    assert.match(out.error!.message, /full|disk|I\/O|too large/i);
    assert.equal(out.again, 'AuditWriteError', 'still failing while the file cannot grow');
    const result = verifyAuditFile(path);
    assert.equal(result.ok, true, JSON.stringify(result.problem));
    assert.equal(result.records, out.committed, 'exactly the acknowledged records are in the trail');
  });

  test('open fails with a clear error when the directory does not exist', async () => {
    await assert.rejects(AuditTrail.open({ path: join(SANDBOX, 'missing', 'audit.db'), logger }), { name: 'AuditWriteError', message: /cannot open the audit trail/ });
  });
});

describe('verify catches tampering made directly in the SQLite file', () => {
  test('intact: OK with the count, via the CLI too', async () => {
    const dir = await trailWith(10);
    assert.deepEqual(verifyAuditFile(join(dir, 'audit.db')).records, 10);
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    // No audit-signing-key.pem in this data directory: the chain is checked, the digests are not, and it says so.
    assert.match(r.stdout, /^OK: 10 records, chain intact\nhead: seq 10, hash [0-9a-f]{64}\ndigests: NOT checked \(no public key at .*audit-signing-key\.pem; pass --public-key FILE\)\n10 records after the last digest are not yet signed\n$/);
    const j = await cli(['audit', 'verify', '--data-dir', dir, '--output', 'json']);
    assert.equal(j.code, 0);
    assert.deepEqual((JSON.parse(j.stdout) as { ok: boolean; records: number }).records, 10);
  });

  test('an edited record', async () => {
    const dir = await trailWith(10);
    tamper(dir, (db) => db.prepare("UPDATE audit_records SET record = replace(record, 'alice', 'mallory') WHERE seq = 6").run());
    const res = verifyAuditFile(join(dir, 'audit.db'));
    assert.deepEqual({ ok: res.ok, seq: res.problem?.seq, kind: res.problem?.kind, records: res.records }, { ok: false, seq: 6, kind: 'altered', records: 5 });
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED: seq 6: altered: /);
  });

  test('an edited record whose hash was recomputed breaks the next link', async () => {
    const dir = await trailWith(10);
    tamper(dir, (db) => {
      const row = db.prepare<[], { prev_hash: string; record: string }>('SELECT prev_hash, record FROM audit_records WHERE seq = 4').get()!;
      const record = row.record.replace('alice', 'mallory');
      db.prepare('UPDATE audit_records SET record = ?, hash = ? WHERE seq = 4').run(record, hashOfStored(4, row.prev_hash, record));
    });
    const res = verifyAuditFile(join(dir, 'audit.db'));
    assert.deepEqual([res.problem?.seq, res.problem?.kind], [5, 'removed']);
  });

  test('a deleted record', async () => {
    const dir = await trailWith(10);
    tamper(dir, (db) => db.prepare('DELETE FROM audit_records WHERE seq = 7').run());
    const res = verifyAuditFile(join(dir, 'audit.db'));
    assert.deepEqual([res.problem?.seq, res.problem?.kind, res.records], [7, 'removed', 6]);
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED: seq 7: removed: record seq 7 is missing/);
  });

  test('a deleted record with the rest renumbered', async () => {
    const dir = await trailWith(10);
    tamper(dir, (db) => {
      db.prepare('DELETE FROM audit_records WHERE seq = 3').run();
      for (let s = 4; s <= 10; s++) db.prepare('UPDATE audit_records SET seq = ? WHERE seq = ?').run(s - 1, s);
    });
    const res = verifyAuditFile(join(dir, 'audit.db'));
    assert.deepEqual([res.problem?.seq, res.problem?.kind], [3, 'removed']);
  });

  test('two records swapped', async () => {
    const dir = await trailWith(10);
    tamper(dir, (db) => {
      const tx = db.transaction(() => {
        db.prepare('UPDATE audit_records SET seq = -1 WHERE seq = 4').run();
        db.prepare('UPDATE audit_records SET seq = 4 WHERE seq = 5').run();
        db.prepare('UPDATE audit_records SET seq = 5 WHERE seq = -1').run();
      });
      tx();
    });
    const res = verifyAuditFile(join(dir, 'audit.db'));
    assert.deepEqual([res.problem?.seq, res.problem?.kind], [4, 'reordered']);
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED: seq 4: reordered: /);
  });

  test('missing database: exit 1 naming the path', async () => {
    const dir = newDir();
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^keybridge: no audit trail at .*audit\.db/);
  });
});

describe('retention', () => {
  test('maxRecords keeps the newest N and an anchor; the chain verifies; an altered anchor is caught', async () => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const trail = await AuditTrail.open({ path, logger, retention: { maxRecords: 30 } });
    for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 25 }, (_, i) => trail.append(event(round * 25 + i))));
    await trail.prune();
    await trail.close();
    const res = verifyAuditFile(path);
    assert.equal(res.ok, true, JSON.stringify(res.problem));
    assert.equal(res.records, 30);
    assert.deepEqual([res.anchor?.seq, res.head.seq], [70, 100]);
    const r = await cli(['audit', 'verify', '--data-dir', dir]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^OK: 30 records, chain intact\n.*\ndigests: NOT checked .*\n30 records after the last digest are not yet signed\nanchor: records up to seq 70 were removed by retention\n$/);

    tamper(dir, (db) => db.prepare("UPDATE audit_anchor SET hash = 'ab' || substr(hash, 3)").run());
    assert.deepEqual([verifyAuditFile(path).problem?.kind, verifyAuditFile(path).problem?.seq], ['anchor-altered', 71]);
    tamper(dir, (db) => db.prepare('UPDATE audit_anchor SET seq = 60').run());
    assert.equal(verifyAuditFile(path).problem?.kind, 'removed');
  });

  test('maxAgeDays removes records older than the limit', async () => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const now = Date.now();
    const trail = await AuditTrail.open({ path, logger, retention: { maxAgeDays: 30 } });
    for (let i = 0; i < 10; i++) await trail.append(event(i, new Date(now - (40 - i) * 86_400_000)));
    for (let i = 10; i < 15; i++) await trail.append(event(i, new Date(now - 1000)));
    // The writer already applies the age limit after appends; prune() finishes whatever is left.
    await trail.prune(now);
    await trail.close();
    const res = verifyAuditFile(path);
    assert.deepEqual([res.ok, res.records, res.anchor?.seq], [true, 5, 10]);
  });
});

describe('export and tail', () => {
  test('export: CloudTrail {"Records":[…]} files per 5-minute window, split at max records, manifest with chain hashes', async () => {
    const dir = newDir();
    const trail = await AuditTrail.open({ path: join(dir, 'audit.db'), logger });
    // 12 records in the 00:00 window, 3 in 00:05, 2 in 01:00.
    for (let i = 0; i < 12; i++) await trail.append(event(i, new Date(Date.UTC(2025, 0, 1, 0, 0, i))));
    for (let i = 0; i < 3; i++) await trail.append(event(i, new Date(Date.UTC(2025, 0, 1, 0, 5, i))));
    for (let i = 0; i < 2; i++) await trail.append(event(i, new Date(Date.UTC(2025, 0, 1, 1, 0, i))));
    await trail.close();
    const out = join(dir, 'export');
    const result = exportAuditFile(join(dir, 'audit.db'), out, { until: new Date(Date.UTC(2025, 0, 1, 0, 30)), maxRecordsPerFile: 10 });
    assert.equal(result.records, 15);
    assert.deepEqual(result.files.map((f) => [f.name, f.records, f.firstSeq, f.lastSeq]), [
      ['111122223333_CloudTrail_us-east-1_20250101T0000Z_0000000000000001.json', 10, 1, 10],
      ['111122223333_CloudTrail_us-east-1_20250101T0000Z_0000000000000011.json', 2, 11, 12],
      ['111122223333_CloudTrail_us-east-1_20250101T0005Z_0000000000000013.json', 3, 13, 15],
    ]);
    const file = JSON.parse(readFileSync(join(out, result.files[0]!.name), 'utf8')) as { Records: CloudTrailEvent[] };
    assert.equal(file.Records.length, 10);
    assert.equal(file.Records[0]!.eventSource, 'kms.amazonaws.com');
    assert.equal(hashOfStored(1, result.files[0]!.firstPrevHash, JSON.stringify(file.Records[0])), hashOfStored(1, GENESIS_HASH, JSON.stringify(file.Records[0])));
    const manifest = JSON.parse(readFileSync(join(out, MANIFEST_NAME), 'utf8')) as { files: { lastHash: string }[] };
    assert.equal(manifest.files[2]!.lastHash.length, 64);
    assert.equal(statSync(join(out, result.files[0]!.name)).mode & 0o777, 0o600);

    const cliOut = join(dir, 'cli-export');
    const r = await cli(['audit', 'export', '--data-dir', dir, '--dir', cliOut, '--since', '2025-01-01T00:05:00Z', '--gzip', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { records: number }).records, 5);
    assert.ok(readdirSync(cliOut).some((f) => f.endsWith('_20250101T0100Z_0000000000000016.json.gz')));
    const bad = await cli(['audit', 'export', '--data-dir', dir, '--dir', cliOut, '--since', 'yesterday']);
    assert.equal(bad.code, 2);
  });

  test('tail -n prints the newest records; --follow prints records as they are appended', async () => {
    const dir = await trailWith(5);
    const r = await cli(['audit', 'tail', '--data-dir', dir, '-n', '2']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^4  2025-01-01T00:00:04Z  Encrypt  arn:aws:iam::111122223333:user\/alice  127\.0\.0\.1  OK$/);

    const child = spawn(process.execPath, [CLI_MAIN, 'audit', 'tail', '--data-dir', dir, '-n', '1', '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    child.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    // The newest record printed means the follower is running (node may take a while to start).
    const deadline = Date.now() + 20_000;
    while (!seen.includes('\n') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(seen, /^5  /);
    const trail = await AuditTrail.open({ path: join(dir, 'audit.db'), logger });
    await trail.append(event(42));
    await trail.close();
    while (seen.split('\n').length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const code = await new Promise<number | null>((resolve) => {
      child.on('close', resolve);
      child.kill('SIGINT');
    });
    assert.equal(code, 0);
    assert.match(seen.split('\n')[1]!, /^6  2025-01-01T00:00:42Z  Encrypt  /);
  });
});
