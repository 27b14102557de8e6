// Exports the audit trail in CloudTrail's log file shape, {"Records":[…]}, for a time window.
//
// Files follow CloudTrail's delivery: one file per 5-minute window of eventTime, named
//   <AccountID>_CloudTrail_<Region>_<YYYYMMDDTHHmmZ>_<UniqueString>.json[.gz]
// with the window's start as the time and the first record's seq (16 digits) as the unique
// string, so names sort in chain order and a second export of the same window never overwrites
// the first (files are created exclusively). A busy window is split further at maxRecords per file.
//
// Alongside them, keybridge-export-manifest.json lists each file with its seq range, the chain
// hashes at both ends and the file's SHA-256 (CloudTrail's digest files play this role), so an
// export can be checked against `audit verify`'s head later.
//
// Intent records (eventType KeybridgeIntent, written before a mutating call runs) are left out
// when the call's outcome record (eventType AwsApiCall, same requestID, later seq) exists anywhere
// in the trail, even after the window: the files then read like CloudTrail's. An intent without
// an outcome is kept: it is a change whose result is unknown, which an operator must see. A
// file's seq range can therefore skip the omitted intents' seqs.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type Database from 'better-sqlite3';
import { INTENT_EVENT_TYPE } from './event.js';
import { openForReading, type StoredRow } from './schema.js';

export const DEFAULT_MAX_RECORDS_PER_FILE = 10_000;
const WINDOW_MS = 5 * 60_000;
export const MANIFEST_NAME = 'keybridge-export-manifest.json';

export interface ExportOptions {
  /** Inclusive. */
  readonly since?: Date;
  /** Exclusive. */
  readonly until?: Date;
  readonly maxRecordsPerFile?: number;
  readonly gzip?: boolean;
}

export interface ExportedFile {
  readonly name: string;
  readonly records: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** The prevHash of the first record: where this file joins the chain. */
  readonly firstPrevHash: string;
  readonly lastHash: string;
  readonly sha256: string;
}

export interface ExportResult {
  readonly directory: string;
  readonly records: number;
  /** Intent records left out because their outcome record exists. */
  readonly intentsOmitted: number;
  /** Intent records written because no outcome record exists (changes whose outcome is unknown). */
  readonly intentsWithoutOutcome: number;
  readonly files: readonly ExportedFile[];
}

export function exportAuditFile(dbPath: string, directory: string, options: ExportOptions = {}): ExportResult {
  const max = options.maxRecordsPerFile ?? DEFAULT_MAX_RECORDS_PER_FILE;
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxRecordsPerFile must be a positive integer, got ${max}`);
  const db = openForReading(dbPath);
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const since = options.since?.getTime() ?? 0;
    const until = options.until?.getTime() ?? Number.MAX_SAFE_INTEGER;
    const window = db.prepare<[number, number], StoredRow>(
      'SELECT seq, prev_hash, hash, event_time, record FROM audit_records WHERE event_time >= ? AND event_time < ? ORDER BY seq',
    );
    // One read transaction: both passes see the same trail.
    db.prepare('BEGIN').run();
    const { omit, intents } = resolvedIntents(db, window.iterate(since, until));
    const rows = window.iterate(since, until);
    const files: ExportedFile[] = [];
    let batch: StoredRow[] = [];
    let windowStart = -1;
    const flush = () => {
      if (batch.length > 0) files.push(writeFile(directory, batch, windowStart, options.gzip === true));
      batch = [];
    };
    for (const row of rows) {
      if (omit.has(row.seq)) continue;
      const w = Math.floor(row.event_time / WINDOW_MS) * WINDOW_MS;
      if (w !== windowStart || batch.length >= max) flush();
      windowStart = w;
      batch.push(row);
    }
    flush();
    db.prepare('COMMIT').run();
    const result = {
      directory,
      records: files.reduce((n, f) => n + f.records, 0),
      intentsOmitted: omit.size,
      intentsWithoutOutcome: intents - omit.size,
      files,
    };
    writeFileSync(
      join(directory, MANIFEST_NAME),
      `${JSON.stringify({ since: options.since?.toISOString() ?? null, until: options.until?.toISOString() ?? null, ...result, directory: undefined }, null, 2)}\n`,
      { mode: 0o600, flag: 'wx' },
    );
    return result;
  } finally {
    db.close();
  }
}

/**
 * The seqs of the intents among `rows` whose outcome record exists (to leave out), and how many
 * intents there were. Stored records are compact JSON.stringify output, so a record without the
 * text `"eventType":"KeybridgeIntent"` is no intent and is not parsed.
 */
function resolvedIntents(db: Database.Database, rows: Iterable<StoredRow>): { omit: Set<number>; intents: number } {
  const pending = new Map<string, number[]>();
  let intents = 0;
  let first = Number.POSITIVE_INFINITY;
  const marker = `"eventType":${JSON.stringify(INTENT_EVENT_TYPE)}`;
  for (const row of rows) {
    if (!row.record.includes(marker)) continue;
    const record = JSON.parse(row.record) as IntentFields;
    const key = record.eventType === INTENT_EVENT_TYPE ? intentKey(record) : undefined;
    if (key === undefined) continue;
    intents += 1;
    first = Math.min(first, row.seq);
    pending.set(key, [...(pending.get(key) ?? []), row.seq]);
  }
  const omit = new Set<number>();
  if (pending.size === 0) return { omit, intents };
  const later = db.prepare<[number], Pick<StoredRow, 'seq' | 'record'>>('SELECT seq, record FROM audit_records WHERE seq > ? ORDER BY seq');
  for (const row of later.iterate(first)) {
    if (!row.record.includes('"eventType":"AwsApiCall"') && !row.record.includes('"eventType":"AwsServiceEvent"')) continue;
    const key = outcomeKey(JSON.parse(row.record) as IntentFields);
    const seqs = key === undefined ? undefined : pending.get(key);
    if (seqs === undefined) continue;
    // Only intents written before their outcome are resolved by it.
    for (const seq of seqs) if (seq < row.seq) omit.add(seq);
  }
  return { omit, intents };
}

interface IntentFields {
  readonly eventType?: unknown;
  readonly requestID?: unknown;
  readonly eventID?: unknown;
  readonly additionalEventData?: { readonly outcomeEventID?: unknown };
}

/**
 * What ties an intent to its outcome: the requestID of an API call; for an action keybridge took
 * on its own (no requestID), the eventID its outcome was written with.
 */
function intentKey(record: IntentFields): string | undefined {
  if (typeof record.requestID === 'string') return `request:${record.requestID}`;
  const outcome = record.additionalEventData?.outcomeEventID;
  return typeof outcome === 'string' ? `event:${outcome}` : undefined;
}

function outcomeKey(record: IntentFields): string | undefined {
  if (record.eventType === 'AwsApiCall' && typeof record.requestID === 'string') return `request:${record.requestID}`;
  if (record.eventType === 'AwsServiceEvent' && typeof record.eventID === 'string') return `event:${record.eventID}`;
  return undefined;
}

function writeFile(directory: string, rows: readonly StoredRow[], window: number, gzip: boolean): ExportedFile {
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const head = JSON.parse(first.record) as { recipientAccountId?: string; awsRegion?: string };
  const stamp = new Date(window).toISOString().replace(/[-:]/g, '').replace(/\d\d\.\d{3}Z$/, 'Z');
  const name = `${safe(head.recipientAccountId)}_CloudTrail_${safe(head.awsRegion)}_${stamp}_${String(first.seq).padStart(16, '0')}.json${gzip ? '.gz' : ''}`;
  // The stored text is already the record in AWS's field order; no re-serialisation.
  const json = Buffer.from(`{"Records":[${rows.map((r) => r.record).join(',')}]}\n`);
  const body = gzip ? gzipSync(json) : json;
  writeFileSync(join(directory, name), body, { mode: 0o600, flag: 'wx' });
  return {
    name,
    records: rows.length,
    firstSeq: first.seq,
    lastSeq: last.seq,
    firstPrevHash: first.prev_hash,
    lastHash: last.hash,
    sha256: createHash('sha256').update(body).digest('hex'),
  };
}

/** File-name parts come from records; keep them to characters that are safe in a name. */
function safe(part: string | undefined): string {
  return (part ?? 'unknown').replace(/[^A-Za-z0-9-]/g, '_');
}
