// keybridge audit export: CloudTrail log files ({"Records":[…]}) for a time window.

import { DEFAULT_MAX_RECORDS_PER_FILE, exportAuditFile, MANIFEST_NAME } from '../audit/export.js';
import { parseTime, positiveInt, withAuditFile } from './audit-db.js';
import { req, str, type Command } from './command.js';

export const auditExport: Command = {
  group: 'audit',
  name: 'export',
  summary: 'Write audit records as CloudTrail log files ({"Records":[...]}) for a time window.',
  description:
    'Reads <data-dir>/audit.db (read-only; with a PostgreSQL store in --config, a consistent copy of the database\'s trail) and writes the records whose eventTime is in [--since, --until) to --dir, ' +
    'one file per 5-minute window like CloudTrail (<Account>_CloudTrail_<Region>_<YYYYMMDDTHHmmZ>_<first seq>.json), ' +
    `split at --max-records per file, plus ${MANIFEST_NAME} with each file's seq range, chain hashes and SHA-256. ` +
    'Existing files are never overwritten.',
  options: [
    { name: 'dir', kind: 'string', metavar: 'DIR', required: true, description: 'Directory to write to (created if missing).' },
    { name: 'since', kind: 'string', metavar: 'TIME', description: 'Start (inclusive): ISO 8601, or relative like 30m, 2h, 7d. Default: the oldest record.' },
    { name: 'until', kind: 'string', metavar: 'TIME', description: 'End (exclusive), same forms. Default: now and later.' },
    { name: 'max-records', kind: 'string', metavar: 'N', description: `Records per file at most. Default: ${DEFAULT_MAX_RECORDS_PER_FILE}.` },
    { name: 'gzip', kind: 'flag', description: 'Compress each file (.json.gz), as CloudTrail delivers them.' },
  ],
  validate(values) {
    const now = Date.now();
    const since = str(values, 'since');
    const until = str(values, 'until');
    if (since !== undefined) parseTime('since', since, now);
    if (until !== undefined) parseTime('until', until, now);
    const max = str(values, 'max-records');
    if (max !== undefined) positiveInt('max-records', max);
  },
  async run(ctx) {
    const now = ctx.now();
    const since = str(ctx.values, 'since');
    const until = str(ctx.values, 'until');
    const max = str(ctx.values, 'max-records');
    const result = await withAuditFile(ctx, (path) => exportAuditFile(path, req(ctx.values, 'dir'), {
      ...(since !== undefined ? { since: parseTime('since', since, now) } : {}),
      ...(until !== undefined ? { until: parseTime('until', until, now) } : {}),
      ...(max !== undefined ? { maxRecordsPerFile: positiveInt('max-records', max) } : {}),
      gzip: ctx.values.gzip === true,
    }));
    ctx.out.print({
      json: result,
      table: { columns: ['File', 'Records', 'FirstSeq', 'LastSeq'], rows: result.files.map((f) => [f.name, f.records, f.firstSeq, f.lastSeq]) },
    });
    if (result.files.length === 0) ctx.warn('no audit records in that time window');
    return 0;
  },
};
