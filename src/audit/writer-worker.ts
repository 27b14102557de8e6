// The audit writer thread: owns the audit database connection and the chain head, and commits
// each batch the main thread sends in ONE transaction (one WAL fsync, synchronous=FULL).
//
// Why a thread: better-sqlite3 is synchronous, and a commit waits for fsync. On the main thread
// every commit would stall every request; here the main thread keeps accepting requests while a
// commit is in progress, and everything that arrived meanwhile becomes the next batch (group
// commit; see audit-store.ts). Only this thread writes the file.

import { parentPort, workerData } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { chainRecords, GENESIS_HASH } from './chain.js';
import { openForWriting, readAnchor } from './schema.js';
import type { RetentionOptions, WriterReply, WriterRequest } from './writer-protocol.js';

const DAY_MS = 86_400_000;
/** Rows removed per retention transaction, so a large backlog never blocks appends for long. */
const PRUNE_STEP = 10_000;
/** How often the age limit is checked between appends. */
const AGE_CHECK_INTERVAL_MS = 60_000;

const port = parentPort!;
const { path, retention } = workerData as { path: string; retention: RetentionOptions };

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

const anchor = readAnchor(db);
let anchorSeq = anchor?.seq ?? 0;
let head = lastRow.get() ?? { seq: anchorSeq, hash: anchor?.hash ?? GENESIS_HASH };
let lastAgeCheck = 0;

const appendTx = db.transaction((texts: readonly string[], times: readonly number[]) => {
  const links = chainRecords(head, texts);
  links.forEach((l, i) => insert.run(l.seq, l.prevHash, l.hash, times[i]!, texts[i]!));
  return links[links.length - 1]!;
});

/** Removes the records before `upTo` (inclusive) and moves the anchor to it. */
const pruneTx = db.transaction((upTo: number, now: number) => {
  const hash = hashAt.get(upTo);
  if (hash === undefined) throw new Error(`internal: no audit record ${upTo} to anchor on`);
  const removed = deleteUpTo.run(upTo).changes;
  putAnchor.run(upTo, hash, now);
  return removed;
});

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
  upTo = Math.min(upTo, anchorSeq + PRUNE_STEP);
  if (upTo <= anchorSeq) return 0;
  const removed = pruneTx.immediate(upTo, now);
  anchorSeq = upTo;
  return removed;
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
