// Signed audit digests on a real trail written by AuditTrail, signed by a key pair in a real
// SoftHSM2 token: the signing key's life cycle, what verify reports, every tampering case it must
// catch (made directly in the SQLite file), retention that cuts only at signed heads, and the
// OpenSSL recipe of docs/audit.md.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pino from 'pino';
import { AuditTrail } from '../../src/audit/audit-store.js';
import { hashOfStored } from '../../src/audit/chain.js';
import { parseDigest } from '../../src/audit/digest.js';
import type { CloudTrailEvent } from '../../src/audit/event.js';
import { buildApiCallEvent } from '../../src/audit/record.js';
import { verifyAuditFile, type VerifyResult } from '../../src/audit/verify.js';
import { Pkcs11Hsm } from '../../src/hsm/pkcs11/pkcs11-hsm.js';
import { AuditSigningKey } from '../../src/services/audit-signing-key.js';
import { runCli } from '../support/cli.js';
import { createSoftHsm, loadVendorProfile, type SoftHsmFixture } from '../support/softhsm.js';

const logger = pino({ level: 'silent' });
let fx: SoftHsmFixture;
let hsm: Pkcs11Hsm;
let sandbox: string;
let dirs = 0;
const newDir = () => mkdtempSync(join(sandbox, `d${++dirs}-`));

before(async () => {
  fx = await createSoftHsm();
  hsm = await Pkcs11Hsm.open({ modulePath: fx.modulePath, tokenLabel: fx.tokenLabel, pin: fx.userPin, profile: loadVendorProfile('softhsm2'), maxSessions: 4 });
  sandbox = mkdtempSync(join(tmpdir(), 'keybridge-digest-'));
});

after(async () => {
  await hsm?.close();
  await fx?.cleanup();
  rmSync(sandbox, { recursive: true, force: true });
});

function event(i: number): CloudTrailEvent {
  return buildApiCallEvent({
    time: new Date(Date.UTC(2025, 0, 1, 0, 0, i % 60)), requestId: `req-${i}`, region: 'us-east-1', account: '111122223333', sourceIp: '127.0.0.1', userAgent: 'test',
    principal: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice', accountId: '111122223333', userName: 'alice', accessKeyId: 'AKIDEXAMPLE' },
    eventName: 'Encrypt', request: { KeyId: 'alias/app', EncryptionContext: { n: String(i) } }, response: {},
    key: { arn: 'arn:aws:kms:us-east-1:111122223333:key/k1', accountId: '111122223333' },
  });
}

const pemOf = (dir: string) => readFileSync(join(dir, 'audit-signing-key.pem'));

/**
 * Records 1-30 signed by digests at seq 10, 20 and 30 (the last one made by close()), then records
 * 31-35 appended by a trail without a signer: not yet signed.
 */
async function writeBaseTrail(): Promise<string> {
  const dir = newDir();
  const path = join(dir, 'audit.db');
  const signer = await AuditSigningKey.open(hsm, join(dir, 'audit-signing-key.pem'));
  const trail = await AuditTrail.open({ path, logger, signer, digestIntervalSeconds: 3600 });
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => trail.append(event(round * 10 + i + 1))));
    if (round < 2) assert.equal(await trail.digest(), true);
  }
  assert.equal(await trail.digest(new Date()), true, 'seq 30');
  assert.equal(await trail.digest(), false, 'nothing appended since: no digest');
  await trail.close(); // nothing appended since either: still three digests
  const unsigned = await AuditTrail.open({ path, logger });
  for (let i = 31; i <= 35; i++) await unsigned.append(event(i));
  await unsigned.close();
  return dir;
}

let base: string;
/** A copy of the base trail (and its public key) to tamper with. */
function copyOfBase(): string {
  const dir = newDir();
  copyFileSync(join(base, 'audit.db'), join(dir, 'audit.db'));
  copyFileSync(join(base, 'audit-signing-key.pem'), join(dir, 'audit-signing-key.pem'));
  return dir;
}

function tamper(dir: string, fn: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'audit.db'));
  db.transaction(() => fn(db))();
  db.close();
}

/** Recomputes prev_hash and hash of every record from `fromSeq` on, as a forger would. */
function rechain(db: Database.Database, fromSeq: number): void {
  const rows = db.prepare<[], { seq: number; prev_hash: string; hash: string; record: string }>('SELECT seq, prev_hash, hash, record FROM audit_records ORDER BY seq').all();
  let prev: string | undefined;
  for (const row of rows) {
    if (row.seq >= fromSeq) {
      const hash = hashOfStored(row.seq, prev!, row.record);
      db.prepare('UPDATE audit_records SET prev_hash = ?, hash = ? WHERE seq = ?').run(prev!, hash, row.seq);
      prev = hash;
    } else {
      prev = row.hash;
    }
  }
}

function verify(dir: string, withKey = true): VerifyResult {
  return verifyAuditFile(join(dir, 'audit.db'), withKey ? { publicKeyPem: pemOf(dir) } : {});
}

function problemOf(r: VerifyResult): [boolean, number | undefined, string | undefined] {
  return [r.ok, r.problem?.seq, r.problem?.kind];
}

describe('the audit signing key', () => {
  test('generated once in the HSM, reused on the next start; the PEM (0644) is written and restored when it differs', async () => {
    const dir = newDir();
    const pemPath = join(dir, 'audit-signing-key.pem');
    const first = await AuditSigningKey.open(hsm, pemPath);
    assert.match(readFileSync(pemPath, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(statSync(pemPath).mode & 0o777, 0o644);
    writeFileSync(pemPath, 'not the key');
    const second = await AuditSigningKey.open(hsm, pemPath);
    assert.equal(second.keyFingerprint, first.keyFingerprint, 'the same key pair');
    assert.equal(readFileSync(pemPath, 'utf8'), first.publicKeyPem, 'rewritten');
    assert.equal(statSync(pemPath).mode & 0o777, 0o644);
  });
});

describe('verify with signed digests', () => {
  before(async () => {
    base = await writeBaseTrail();
  });

  test('intact: digests verified, records after the last one reported as unsigned (API and CLI)', async () => {
    const r = verify(base);
    assert.deepEqual([r.ok, r.records, r.head.seq], [true, 35, 35]);
    assert.deepEqual([r.digests.checked, r.digests.count, r.digests.last?.headSeq, r.digests.unsignedRecords], [true, 3, 30, 5]);
    const digest = parseDigest(readDigest(base, 20).digest)!;
    assert.deepEqual([digest.version, digest.headSeq, digest.records, digest.anchor], [1, 20, 20, null]);
    assert.equal(digest.previousDigestSignature, readDigest(base, 10).signature.toString('base64'));
    assert.equal(parseDigest(readDigest(base, 10).digest)!.previousDigestSignature, null);

    const cli = await runCli(['audit', 'verify', '--data-dir', base], { home: sandbox });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^OK: 35 records, chain intact\nhead: seq 35, hash [0-9a-f]{64}\ndigests: 3 signed digests verified with .*audit-signing-key\.pem; the last covers seq 30 .*\n5 records after the last digest are not yet signed\n$/);
    const noKey = await runCli(['audit', 'verify', '--data-dir', base, '--public-key', join(base, 'missing.pem')], { home: sandbox });
    assert.equal(noKey.code, 1, 'an explicit key file that does not exist is an error');
  });

  const cases: { name: string; change: (db: Database.Database) => void; expect: [number, string]; chainAlone: 'ok' | 'fails' }[] = [
    {
      name: 'an edited record',
      change: (db) => db.prepare("UPDATE audit_records SET record = replace(record, 'alice', 'mallory') WHERE seq = 15").run(),
      expect: [15, 'altered'], chainAlone: 'fails',
    },
    { name: 'a deleted record', change: (db) => db.prepare('DELETE FROM audit_records WHERE seq = 7').run(), expect: [7, 'removed'], chainAlone: 'fails' },
    {
      name: 'reordered records',
      change: (db) => {
        db.prepare('UPDATE audit_records SET seq = -1 WHERE seq = 4').run();
        db.prepare('UPDATE audit_records SET seq = 4 WHERE seq = 5').run();
        db.prepare('UPDATE audit_records SET seq = 5 WHERE seq = -1').run();
      },
      expect: [4, 'reordered'], chainAlone: 'fails',
    },
    {
      name: 'reordered records with every later hash recomputed',
      change: (db) => {
        db.prepare('UPDATE audit_records SET seq = -1 WHERE seq = 4').run();
        db.prepare('UPDATE audit_records SET seq = 4 WHERE seq = 5').run();
        db.prepare('UPDATE audit_records SET seq = 5 WHERE seq = -1').run();
        rechain(db, 4);
      },
      expect: [10, 'digest-mismatch'], chainAlone: 'ok',
    },
    {
      name: 'an inserted record (later records renumbered, hashes recomputed)',
      change: (db) => {
        for (let s = 35; s >= 12; s--) db.prepare('UPDATE audit_records SET seq = ? WHERE seq = ?').run(s + 1, s);
        const record = JSON.stringify(event(99));
        db.prepare('INSERT INTO audit_records (seq, prev_hash, hash, event_time, record) VALUES (12, ?, ?, ?, ?)').run('x', 'x', Date.parse(event(99).eventTime), record);
        rechain(db, 12);
      },
      expect: [20, 'digest-mismatch'], chainAlone: 'ok',
    },
    {
      name: 'an inserted record without recomputing',
      change: (db) => {
        for (let s = 35; s >= 12; s--) db.prepare('UPDATE audit_records SET seq = ? WHERE seq = ?').run(s + 1, s);
        db.prepare('INSERT INTO audit_records (seq, prev_hash, hash, event_time, record) SELECT 12, hash, hash, event_time, record FROM audit_records WHERE seq = 11').run();
      },
      expect: [12, 'altered'], chainAlone: 'fails',
    },
    {
      name: 'a record rewritten with every later hash recomputed',
      change: (db) => {
        db.prepare("UPDATE audit_records SET record = replace(record, 'alice', 'mallory') WHERE seq = 5").run();
        rechain(db, 5);
      },
      expect: [10, 'digest-mismatch'], chainAlone: 'ok',
    },
    {
      name: 'a forged retention anchor (the first records deleted, a matching anchor inserted)',
      change: (db) => {
        const hash = db.prepare<[], string>('SELECT hash FROM audit_records WHERE seq = 14').pluck().get()!;
        db.prepare('DELETE FROM audit_records WHERE seq <= 14').run();
        db.prepare('INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, 14, ?, 0)').run(hash);
      },
      expect: [14, 'anchor-unsigned'], chainAlone: 'ok',
    },
    {
      name: 'records cut off the end (below the last digest)',
      change: (db) => db.prepare('DELETE FROM audit_records WHERE seq >= 26').run(),
      expect: [26, 'cut-off'], chainAlone: 'ok',
    },
    {
      name: 'an edited digest',
      change: (db) => db.prepare(`UPDATE audit_digests SET digest = replace(digest, '"records":20', '"records":19') WHERE head_seq = 20`).run(),
      expect: [20, 'digest-invalid'], chainAlone: 'ok',
    },
    {
      name: 'a digest given another digest\'s signature',
      change: (db) => db.prepare('UPDATE audit_digests SET signature = (SELECT signature FROM audit_digests WHERE head_seq = 10) WHERE head_seq = 20').run(),
      expect: [20, 'digest-invalid'], chainAlone: 'ok',
    },
    { name: 'a deleted digest (in the middle)', change: (db) => db.prepare('DELETE FROM audit_digests WHERE head_seq = 20').run(), expect: [30, 'digest-removed'], chainAlone: 'ok' },
    { name: 'a deleted digest (the first)', change: (db) => db.prepare('DELETE FROM audit_digests WHERE head_seq = 10').run(), expect: [20, 'digest-removed'], chainAlone: 'ok' },
  ];

  for (const c of cases) {
    test(`catches ${c.name}`, () => {
      const dir = copyOfBase();
      tamper(dir, c.change);
      const r = verify(dir);
      assert.deepEqual(problemOf(r), [false, ...c.expect], JSON.stringify(r.problem));
      // What the digests add: these changes pass a check of the chain alone.
      assert.equal(verify(dir, false).ok, c.chainAlone === 'ok', 'chain alone');
    });
  }

  test('the CLI names what it found and exits 1', async () => {
    const dir = copyOfBase();
    tamper(dir, cases.find((c) => c.name.startsWith('a record rewritten'))!.change);
    const r = await runCli(['audit', 'verify', '--data-dir', dir], { home: sandbox });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^FAILED: seq 10: digest-mismatch: the chain's hash at seq 10 is not the one signed .*: records up to seq 10 were rewritten/);
    const cut = copyOfBase();
    tamper(cut, (db) => db.prepare('DELETE FROM audit_records WHERE seq >= 26').run());
    const c = await runCli(['audit', 'verify', '--data-dir', cut, '--public-key', join(base, 'audit-signing-key.pem')], { home: sandbox });
    assert.equal(c.code, 1);
    assert.match(c.stdout, /^FAILED: seq 26: cut-off: records cut off the end: the digest signed .* covers the chain up to seq 30, but the trail ends at seq 25\n/);
  });

  test('a public key of another HSM key rejects every digest', () => {
    const dir = copyOfBase();
    const { publicKey } = requireEcKeyPair();
    const r = verifyAuditFile(join(dir, 'audit.db'), { publicKeyPem: publicKey });
    assert.deepEqual(problemOf(r), [false, 10, 'digest-invalid']);
  });
});

describe('retention on a signed trail', () => {
  test('prune signs the head first and cuts only at a signed digest head; the anchor verifies', async () => {
    const dir = newDir();
    const path = join(dir, 'audit.db');
    const signer = await AuditSigningKey.open(hsm, join(dir, 'audit-signing-key.pem'));
    const trail = await AuditTrail.open({ path, logger, signer, digestIntervalSeconds: 3600, retention: { maxRecords: 10 } });
    for (let i = 1; i <= 8; i++) await trail.append(event(i));
    await trail.digest(); // head 8
    for (let i = 9; i <= 16; i++) await trail.append(event(i));
    // Retention already wants everything up to seq 6 removed, but no signed head is <= 6: nothing cut yet.
    assert.equal(verifyAuditFile(path).anchor, undefined);
    await trail.digest(); // head 16
    for (let i = 17; i <= 25; i++) await trail.append(event(i));
    // Retention wants seq <= 15; the latest signed head at or below it is 8.
    assert.equal(await trail.prune(), 0, 'the writer already cut at 8 after the appends');
    await trail.close();
    const r = verifyAuditFile(path, { publicKeyPem: pemOf(dir) });
    assert.equal(r.ok, true, JSON.stringify(r.problem));
    assert.deepEqual([r.anchor?.seq, r.records, r.digests.count, r.digests.last?.headSeq, r.digests.unsignedRecords], [8, 17, 3, 25, 0]);
    const db = new Database(path, { readonly: true });
    const heads = db.prepare<[], number>('SELECT head_seq FROM audit_digests ORDER BY head_seq').pluck().all();
    db.close();
    assert.deepEqual(heads, [8, 16, 25], 'prune signed the head (25) first; digests are kept');

    // Reopened: once retention wants seq 16 gone (at the 26th record), the writer cuts at the signed head 16.
    const again = await AuditTrail.open({ path, logger, signer, digestIntervalSeconds: 3600, retention: { maxRecords: 10 } });
    for (let i = 26; i <= 30; i++) await again.append(event(i));
    await again.prune();
    await again.close();
    const r2 = verifyAuditFile(path, { publicKeyPem: pemOf(dir) });
    assert.equal(r2.ok, true, JSON.stringify(r2.problem));
    assert.equal(r2.anchor?.seq, 16);
  });
});

describe('the OpenSSL recipe', () => {
  test('audit digests writes <seq>.json and <seq>.sig; openssl says Verified OK, and fails on a modified file', async () => {
    const out = join(newDir(), 'digests');
    const r = await runCli(['audit', 'digests', '--data-dir', base, '--dir', out], { home: sandbox });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['10.json', '10.sig', '20.json', '20.sig', '30.json', '30.sig']);
    assert.equal(readFileSync(join(out, '20.json'), 'utf8'), readDigest(base, 20).digest, 'the exact signed bytes');
    const pem = join(base, 'audit-signing-key.pem');
    for (const seq of [10, 20, 30]) {
      const ok = spawnSync('/usr/bin/openssl', ['dgst', '-sha256', '-verify', pem, '-signature', join(out, `${seq}.sig`), join(out, `${seq}.json`)], { encoding: 'utf8' });
      assert.equal(ok.stdout.trim(), 'Verified OK', ok.stderr);
      assert.equal(ok.status, 0);
    }
    writeFileSync(join(out, '20.json'), readFileSync(join(out, '20.json'), 'utf8').replace('"records":20', '"records":21'));
    const bad = spawnSync('/usr/bin/openssl', ['dgst', '-sha256', '-verify', pem, '-signature', join(out, '20.sig'), join(out, '20.json')], { encoding: 'utf8' });
    assert.match(bad.stdout + bad.stderr, /Verification failure/);
    assert.notEqual(bad.status, 0);
    // An export never replaces a different file (the modified one stays; the command says so).
    const again = await runCli(['audit', 'digests', '--data-dir', base, '--dir', out], { home: sandbox });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /20\.json exists with different contents/);
  });
});

function readDigest(dir: string, seq: number): { digest: string; signature: Buffer } {
  const db = new Database(join(dir, 'audit.db'), { readonly: true });
  const row = db.prepare<[number], { digest: string; signature: Buffer }>('SELECT digest, signature FROM audit_digests WHERE head_seq = ?').get(seq)!;
  db.close();
  return row;
}

function requireEcKeyPair(): { publicKey: string } {
  const out = execFileSync('/usr/bin/openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout'], { encoding: 'utf8' });
  const pub = execFileSync('/usr/bin/openssl', ['ec', '-pubout'], { input: out, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
  return { publicKey: pub };
}
