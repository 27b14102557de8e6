// The audit trail in PostgreSQL (src/audit/postgres/): several nodes append to ONE hash chain in the
// shared database, digests signed in the shared HSM by whichever node comes first, retention across
// nodes, `audit verify` / `tail` reading the database (--config), tampering in the database caught,
// and fail-closed appends while the server is away that recover by themselves.
//
// Real PostgreSQL (the throw-away lab cluster) and a real SoftHSM2 token for the signing key.
// Skips only when PostgreSQL's server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { AuditTrail, AuditWriteError } from '../../src/audit/audit-store.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';
import { PostgresAuditReader } from '../../src/audit/postgres/reader.js';
import { buildApiCallEvent } from '../../src/audit/record.js';
import { verifyAuditFile, type VerifyResult } from '../../src/audit/verify.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { AuditSigningKey } from '../../src/services/audit-signing-key.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab, startPostgresLab, type PostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { createSoftHsm, loadVendorProfile, type SoftHsmFixture } from '../support/softhsm.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();
const logger = pino({ level: 'silent' });

function event(i: number, node: string): CloudTrailEvent {
  return buildApiCallEvent({
    time: new Date(Date.UTC(2025, 0, 1, 0, 0, i % 60)), requestId: `req-${node}-${i}`, region: 'us-east-1', account: '111122223333', sourceIp: '127.0.0.1', userAgent: node,
    principal: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', userName: 'alice', accessKeyId: 'AKIDEXAMPLE' },
    eventName: 'Encrypt', request: { KeyId: 'alias/app', EncryptionContext: { n: String(i) } }, response: {},
    key: { arn: 'arn:aws:kms:us-east-1:111122223333:key/k1', accountId: '111122223333' },
  });
}

describe('the audit trail in PostgreSQL', { skip: missing ?? false }, () => {
  let fx: SoftHsmFixture;
  /** Two nodes' own HSM sessions on one token, as two processes would have. */
  let hsms: Pkcs11Hsm[];
  let signers: AuditSigningKey[];
  let sandbox: string;
  let lab: PostgresLab;

  before(async () => {
    fx = await createSoftHsm();
    const open = () => Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 4 });
    hsms = [await open(), await open()];
    sandbox = mkdtempSync(join(tmpdir(), 'keybridge-pg-audit-'));
    signers = [await AuditSigningKey.open(hsms[0]!, join(sandbox, 'audit-signing-key.pem'))];
    signers.push(await AuditSigningKey.open(hsms[1]!, join(sandbox, 'audit-signing-key.pem')));
    lab = await sharedPostgresLab();
  });

  after(async () => {
    for (const h of hsms ?? []) await h.close();
    await fx?.cleanup();
    if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  });

  /** The service configuration a node and the operator's CLI read: a PostgreSQL store on `db`. */
  function configFile(db: TestDatabase): string {
    const file = join(sandbox, `${db.name}.json`);
    writeFileSync(file, JSON.stringify({ dataDir: join(sandbox, 'data'), store: postgresStoreConfig(lab, db) }));
    return file;
  }

  async function verifyDatabase(url: string): Promise<VerifyResult> {
    const dir = mkdtempSync(join(sandbox, 'snapshot-'));
    const reader = new PostgresAuditReader({ connectionString: url });
    try {
      await reader.snapshot(join(dir, 'audit.db'));
      return verifyAuditFile(join(dir, 'audit.db'), { publicKeyPem: signers[0]!.publicKeyPem });
    } finally {
      await reader.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  test('two nodes appending at once build ONE chain, in group commits; it verifies with its signed digests, also through the CLI', { timeout: 120_000 }, async () => {
    const db = await createTestDatabase();
    try {
      const [a, b] = await Promise.all(signers.map((signer) => AuditTrail.open({ postgres: { connectionString: db.url }, logger, signer, digestIntervalSeconds: 3600 })));
      const rounds = 3;
      for (let r = 0; r < rounds; r++) {
        await Promise.all([
          ...Array.from({ length: 200 }, (_, i) => a!.append(event(r * 1000 + i, 'node-a'))),
          ...Array.from({ length: 200 }, (_, i) => b!.append(event(r * 1000 + i, 'node-b'))),
        ]);
      }
      const transactions = a!.stats.transactions + b!.stats.transactions;
      assert.equal(a!.stats.appended + b!.stats.appended, 1200);
      assert.ok(transactions < 100, `group commit: ${transactions} transactions for 1,200 records`);
      await a!.close();
      await b!.close();

      const rows = await sql<{ n: number; first: number; last: number }>(db.url, 'SELECT count(*)::int AS n, min(seq)::int AS first, max(seq)::int AS last FROM audit_records');
      assert.deepEqual(rows[0], { n: 1200, first: 1, last: 1200 });
      const agents = await sql<{ agent: string; n: number }>(db.url, "SELECT record::json->>'userAgent' AS agent, count(*)::int AS n FROM audit_records GROUP BY 1 ORDER BY 1");
      assert.deepEqual(agents, [{ agent: 'node-a', n: 600 }, { agent: 'node-b', n: 600 }]);

      const result = await verifyDatabase(db.url);
      assert.equal(result.ok, true, JSON.stringify(result.problem));
      assert.equal(result.records, 1200);
      assert.equal(result.digests.checked, true);
      assert.ok(result.digests.count >= 1, 'close() signed the head');
      assert.equal(result.digests.unsignedRecords, 0);

      const config = configFile(db);
      const cli = await runCli(['--config', config, 'audit', 'verify', '--public-key', join(sandbox, 'audit-signing-key.pem')]);
      assert.equal(cli.code, 0, cli.stderr + cli.stdout);
      assert.match(cli.stdout, /OK: 1200 records, chain intact/);
      const tail = await runCli(['--config', config, 'audit', 'tail', '-n', '2']);
      assert.equal(tail.code, 0, tail.stderr);
      assert.deepEqual(tail.stdout.trim().split('\n').map((line) => line.split(/\s+/)[0]), ['1199', '1200']);
    } finally {
      await db.drop();
    }
  });

  test('two nodes signing at the same moment store one digest; the digest chain stays one chain', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase();
    try {
      const [a, b] = await Promise.all(signers.map((signer) => AuditTrail.open({ postgres: { connectionString: db.url }, logger, signer, digestIntervalSeconds: 3600 })));
      for (let round = 1; round <= 3; round++) {
        await Promise.all([a!.append(event(round, 'node-a')), b!.append(event(round, 'node-b'))]);
        const stored = await Promise.all([a!.digest(), b!.digest()]);
        assert.equal(stored.filter(Boolean).length, 1, `round ${round}: exactly one node stored a digest (${JSON.stringify(stored)})`);
      }
      await a!.close();
      await b!.close();
      const result = await verifyDatabase(db.url);
      assert.equal(result.ok, true, JSON.stringify(result.problem));
      assert.equal(result.digests.count, 3);
    } finally {
      await db.drop();
    }
  });

  test('retention on any node cuts the shared chain at a signed digest head; the anchor verifies', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase();
    try {
      const open = (signer: AuditSigningKey) => AuditTrail.open({ postgres: { connectionString: db.url }, logger, signer, digestIntervalSeconds: 3600, retention: { maxRecords: 10 } });
      const a = await open(signers[0]!);
      const b = await open(signers[1]!);
      for (let i = 1; i <= 15; i++) await (i % 2 ? a : b).append(event(i, i % 2 ? 'node-a' : 'node-b'));
      assert.equal(await a.digest(), true);
      for (let i = 16; i <= 30; i++) await (i % 2 ? a : b).append(event(i, i % 2 ? 'node-a' : 'node-b'));
      // Retention ran after the appends (on whichever node's batch found it due) and b prunes now:
      // b signs the head (seq 30) first, but the only cut that keeps at least 10 records is the
      // digest at seq 15.
      await b.prune();
      await a.close();
      await b.close();
      const result = await verifyDatabase(db.url);
      assert.equal(result.ok, true, JSON.stringify(result.problem));
      assert.deepEqual([result.anchor?.seq, result.records, result.head.seq], [15, 15, 30]);
    } finally {
      await db.drop();
    }
  });

  test('a record edited in the database is reported by `audit verify --config`, naming the seq', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase();
    try {
      const trail = await AuditTrail.open({ postgres: { connectionString: db.url }, logger, signer: signers[0]!, digestIntervalSeconds: 3600 });
      await Promise.all(Array.from({ length: 20 }, (_, i) => trail.append(event(i, 'node-a'))));
      await trail.close();
      await sql(db.url, "UPDATE audit_records SET record = replace(record, 'alice', 'mallory') WHERE seq = 7");
      const cli = await runCli(['--config', configFile(db), 'audit', 'verify', '--public-key', join(sandbox, 'audit-signing-key.pem')]);
      assert.equal(cli.code, 1, cli.stdout);
      assert.match(cli.stdout, /FAILED: seq 7: altered/);
    } finally {
      await db.drop();
    }
  });

  test('fails closed while PostgreSQL is stopped (within the time limits), and appends resume by themselves when it is back; nothing acknowledged is lost', { timeout: 120_000 }, async () => {
    const own = await startPostgresLab(); // its own cluster: this test stops the server
    try {
      const db = await createTestDatabase(own);
      const trail = await AuditTrail.open({ postgres: { connectionString: db.url, connectTimeoutMs: 1000, queryTimeoutMs: 2000 }, logger, signer: signers[0]!, digestIntervalSeconds: 3600 });
      try {
        await Promise.all(Array.from({ length: 10 }, (_, i) => trail.append(event(i, 'before'))));
        await own.halt();
        const started = Date.now();
        const failed = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => trail.append(event(i, 'during'))));
        assert.ok(failed.every((r) => r.status === 'rejected' && r.reason instanceof AuditWriteError), 'every append while the server is down rejects');
        assert.ok(Date.now() - started < 8000, `rejected in ${Date.now() - started} ms`);
        await own.startAgain();
        await Promise.all(Array.from({ length: 10 }, (_, i) => trail.append(event(i, 'after'))));
      } finally {
        await trail.close();
      }
      const agents = await sql<{ agent: string; n: number }>(db.url, "SELECT record::json->>'userAgent' AS agent, count(*)::int AS n FROM audit_records GROUP BY 1 ORDER BY 1");
      assert.deepEqual(agents, [{ agent: 'after', n: 10 }, { agent: 'before', n: 10 }]);
      const result = await verifyDatabase(db.url);
      assert.equal(result.ok, true, JSON.stringify(result.problem));
      assert.equal(result.records, 20);
    } finally {
      await own.stop();
    }
  });
});
