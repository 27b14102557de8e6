// keybridge audit tail: the newest audit records, and with --follow every record as it is appended.

import { INTENT_EVENT_TYPE } from '../audit/event.js';
import { fileTailSource, type TailRecord } from '../audit/tail.js';
import { auditDbPath, positiveInt, postgresAuditReader } from './audit-db.js';
import { str, type Command, type CommandContext } from './command.js';

const POLL_MS = 500;

export const auditTail: Command = {
  group: 'audit',
  name: 'tail',
  summary: 'Print the newest audit records; --follow keeps printing them as they are appended.',
  description:
    'Reads <data-dir>/audit.db (read-only), or the PostgreSQL database of the service configuration (--config). Table output is one line per record: seq, eventTime, eventName, caller, ' +
    'source IP and errorCode (or OK, or INTENT for an intent record written before a change ran); json output prints each CloudTrail record. With --follow, the database is polled ' +
    `every ${POLL_MS} ms until interrupted (Ctrl-C ends with status 0).`,
  options: [
    { name: 'lines', short: 'n', kind: 'string', metavar: 'N', description: 'How many of the newest records to print first. Default: 10.' },
    { name: 'follow', short: 'f', kind: 'flag', description: 'Keep printing records as they are appended.' },
  ],
  validate(values) {
    const n = str(values, 'lines');
    if (n !== undefined && n !== '0') positiveInt('lines', n);
  },
  async run(ctx) {
    const n = str(ctx.values, 'lines');
    const count = n === undefined ? 10 : n === '0' ? 0 : positiveInt('lines', n);
    const source = postgresAuditReader(ctx)?.tailSource() ?? fileTailSource(auditDbPath(ctx));
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const first = count > 0 ? await source.last(count) : [];
      for (const r of first) print(ctx, r);
      if (ctx.values.follow !== true) return 0;
      let seq = first.length > 0 ? first[first.length - 1]!.seq : await source.headSeq();
      while (!stop.signal.aborted) {
        const batch = await source.after(seq);
        for (const r of batch) {
          print(ctx, r);
          seq = r.seq;
        }
        if (batch.length === 0) await sleepUnlessAborted(POLL_MS, stop.signal);
      }
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await source.close();
    }
  },
};

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

function print(ctx: CommandContext, { seq, record }: TailRecord): void {
  const who = record.userIdentity as { arn?: string; accessKeyId?: string; invokedBy?: string } | undefined;
  const caller = who?.arn ?? who?.invokedBy ?? (who?.accessKeyId ? `unauthenticated ${who.accessKeyId}` : 'unauthenticated');
  ctx.out.print({
    json: record,
    table: {
      lines: [[seq, record.eventTime, record.eventName, caller, record.sourceIPAddress, outcome(record)].map((v) => cellSafe(v)).join('  ')],
    },
  });
}

/** INTENT for an intent record (the call was about to run; its outcome is a later record), else errorCode or OK. */
function outcome(record: Record<string, unknown>): unknown {
  return record.eventType === INTENT_EVENT_TYPE ? 'INTENT' : (record.errorCode ?? 'OK');
}

/** Control characters would let a logged value rewrite the operator's terminal. */
function cellSafe(value: unknown): string {
  return String(value ?? '-').replace(/\p{Cc}/gu, '?');
}
