// The audit writer thread: owns the audit database connection and the chain head, and commits
// each batch the main thread sends in ONE transaction (one WAL fsync, synchronous=FULL).
//
// Why a thread: better-sqlite3 is synchronous, and a commit waits for fsync. On the main thread
// every commit would stall every request; here the main thread keeps accepting requests while a
// commit is in progress, and everything that arrived meanwhile becomes the next batch (group
// commit; see audit-store.ts). Only this thread writes the file.
//
// Signed digests (digest.ts) are signed on the main thread (the HSM is there) and stored here. In
// a signed trail, retention cuts ONLY at the head of a stored digest, so the anchor always equals a
// signed digest's head and a forged anchor is detectable: a prune removes the records up to the
// latest digest whose headSeq is at most the seq retention wants, and nothing while there is none.

import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { chainRecords, GENESIS_HASH } from './chain.js';
import { openForWriting, readAnchor } from './schema.js';
import type { DigestState } from './writer.js';
import type { RetentionOptions, StoreDigestRequest, WriterReply, WriterRequest } from './writer-protocol.js';

const DAY_MS = 86_400_000;
/** Rows removed per retention transaction, so a large backlog never blocks appends for long. */
const PRUNE_STEP = 10_000;
/** How often the age limit is checked between appends. */
const AGE_CHECK_INTERVAL_MS = 60_000;

const port = parentPort!;
const { path, retention, signed } = workerData as { path: string; retention: RetentionOptions; signed: boolean };

let db: Database.Database;
try {
  db = openForWriting(path);
} catch (err) {
  post({ kind: 'open-failed', message: messageOf(err), code: codeOf(err) });
  process.exit(0);
}

const insert = db.prepare<[number, string, string, number, string]>(
  'INSERT INTO audit_records (seq, prev_hash, hash, event_time, record) VALUES (?, ?, ?, ?, ?)',
);
const lastRow = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1');
const hashAt = db.prepare<[number], string>('SELECT hash FROM audit_records WHERE seq = ?').pluck();
const firstYoung = db.prepare<[number], number | null>('SELECT min(seq) FROM audit_records WHERE event_time >= ?').pluck();
const deleteUpTo = db.prepare<[number]>('DELETE FROM audit_records WHERE seq <= ?');
const putAnchor = db.prepare<[number, string, number]>(
  'INSERT INTO audit_anchor (id, seq, hash, pruned_at) VALUES (1, ?, ?, ?) ' +
    'ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, pruned_at = excluded.pruned_at',
);

const insertDigest = db.prepare<[number, string, number, string, Buffer]>(
  'INSERT INTO audit_digests (head_seq, head_hash, digest_time, digest, signature) VALUES (?, ?, ?, ?, ?)',
);
const lastDigestRow = db.prepare<[], { head_seq: number; signature: Buffer }>('SELECT head_seq, signature FROM audit_digests ORDER BY head_seq DESC LIMIT 1');
/** The latest digest head in (after, upTo]. */
const latestDigestIn = db.prepare<[number, number], number | null>('SELECT max(head_seq) FROM audit_digests WHERE head_seq > ? AND head_seq <= ?').pluck();
/** The earliest digest head in (after, upTo]. */
const earliestDigestIn = db.prepare<[number, number], number | null>('SELECT min(head_seq) FROM audit_digests WHERE head_seq > ? AND head_seq <= ?').pluck();
const digestHashAt = db.prepare<[number], string>('SELECT head_hash FROM audit_digests WHERE head_seq = ?').pluck();

const anchor = readAnchor(db);
let anchorSeq = anchor?.seq ?? 0;
let head = lastRow.get() ?? { seq: anchorSeq, hash: anchor?.hash ?? GENESIS_HASH };
let lastAgeCheck = 0;
let lastDigest = (() => {
  const row = lastDigestRow.get();
  return row ? { headSeq: row.head_seq, signature: row.signature.toString('base64') } : undefined;
})();

const appendTx = db.transaction((texts: readonly string[], times: readonly number[]) => {
  const links = chainRecords(head, texts);
  links.forEach((l, i) => insert.run(l.seq, l.prevHash, l.hash, times[i]!, texts[i]!));
  return links[links.length - 1]!;
});

/** Removes the records before `upTo` (inclusive) and moves the anchor to it. */
const pruneTx = db.transaction((upTo: number, now: number) => {
  const hash = hashAt.get(upTo);
  if (hash === undefined) throw new Error(`internal: no audit record ${upTo} to anchor on`);
  if (signed && digestHashAt.get(upTo) !== hash) {
    // The records no longer match what was signed: keep everything for `audit verify` to report.
    throw new Error(`audit record ${upTo} does not match the signed digest at that seq; nothing is pruned`);
  }
  const removed = deleteUpTo.run(upTo).changes;
  putAnchor.run(upTo, hash, now);
  return removed;
});

/** Stores a digest signed on the main thread if it follows the latest digest (false when not) and still describes this chain. */
const storeDigestTx = db.transaction((req: StoreDigestRequest) => {
  const latest = lastDigestRow.get();
  const latestSignature = latest ? latest.signature.toString('base64') : null;
  if (latestSignature !== req.previousSignature) return false; // another digest was stored since this one was prepared
  if (req.headSeq <= (latest?.head_seq ?? 0)) throw new Error(`internal: digest head ${req.headSeq} is not after the latest digest's`);
  if (hashAt.get(req.headSeq) !== req.headHash) throw new Error(`internal: digest head ${req.headSeq} is not the chain's record at that seq`);
  insertDigest.run(req.headSeq, req.headHash, req.digestTime, req.text, Buffer.from(req.signature));
  return true;
});

function anchorHash(): string {
  return readAnchor(db)?.hash ?? GENESIS_HASH;
}

post({ kind: 'ready', headSeq: head.seq });

port.on('message', (req: WriterRequest) => {
  switch (req.kind) {
    case 'append': {
      try {
        const last = appendTx.immediate(req.texts, req.times);
        head = { seq: last.seq, hash: last.hash };
        post({ kind: 'done', id: req.id, ok: true, value: last.seq });
      } catch (err) {
        // The transaction rolled back: the head is unchanged and the next batch chains onto it.
        post({ kind: 'done', id: req.id, ok: false, message: messageOf(err), code: codeOf(err) });
        return;
      }
      // Retention after the reply, so it never delays the requests of this batch.
      try {
        pruneStep(Date.now(), false);
      } catch (err) {
        post({ kind: 'retention-failed', message: messageOf(err), code: codeOf(err) });
      }
      return;
    }
    case 'prune': {
      try {
        let total = 0;
        for (let n = pruneStep(req.now, true); n > 0; n = pruneStep(req.now, true)) total += n;
        post({ kind: 'done', id: req.id, ok: true, value: total });
      } catch (err) {
        post({ kind: 'done', id: req.id, ok: false, message: messageOf(err), code: codeOf(err) });
      }
      return;
    }
    case 'digest-state': {
      const state: DigestState = {
        headSeq: head.seq,
        headHash: head.hash,
        anchor: anchorSeq > 0 ? { seq: anchorSeq, hash: anchorHash() } : null,
        records: head.seq - anchorSeq,
        lastDigestHeadSeq: lastDigest?.headSeq ?? 0,
        previousSignature: lastDigest?.signature ?? null,
      };
      post({ kind: 'done', id: req.id, ok: true, value: state });
      return;
    }
    case 'store-digest': {
      try {
        if (!storeDigestTx.immediate(req)) {
          post({ kind: 'done', id: req.id, ok: true, value: 0 });
          return;
        }
        lastDigest = { headSeq: req.headSeq, signature: Buffer.from(req.signature).toString('base64') };
        post({ kind: 'done', id: req.id, ok: true, value: req.headSeq });
      } catch (err) {
        post({ kind: 'done', id: req.id, ok: false, message: messageOf(err), code: codeOf(err) });
      }
      return;
    }
    case 'close': {
      db.close();
      post({ kind: 'done', id: req.id, ok: true, value: 0 });
      port.close();
      return;
    }
  }
});

/** One bounded retention transaction; returns the number of records removed (0: nothing due). */
function pruneStep(now: number, force: boolean): number {
  let upTo = anchorSeq;
  if (retention.maxRecords !== undefined && head.seq - anchorSeq > retention.maxRecords) {
    upTo = head.seq - retention.maxRecords;
  }
  if (retention.maxAgeDays !== undefined && (force || now - lastAgeCheck >= AGE_CHECK_INTERVAL_MS)) {
    lastAgeCheck = now;
    const young = firstYoung.get(now - retention.maxAgeDays * DAY_MS);
    upTo = Math.max(upTo, young === null || young === undefined ? head.seq : young - 1);
  }
  upTo = signed ? signedCut(upTo) : Math.min(upTo, anchorSeq + PRUNE_STEP);
  if (upTo <= anchorSeq) return 0;
  const removed = pruneTx.immediate(upTo, now);
  anchorSeq = upTo;
  return removed;
}

/**
 * Where a signed trail may cut when retention wants everything up to `want`: the latest digest head
 * within one PRUNE_STEP, else the first digest head beyond it (one larger transaction rather than
 * an anchor nobody signed), else nowhere (anchorSeq).
 */
function signedCut(want: number): number {
  if (want <= anchorSeq) return anchorSeq;
  return latestDigestIn.get(anchorSeq, Math.min(want, anchorSeq + PRUNE_STEP)) ?? earliestDigestIn.get(anchorSeq, want) ?? anchorSeq;
}

function post(reply: WriterReply): void {
  port.postMessage(reply);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
