// keybridge audit verify: walks the hash chain of <data-dir>/audit.db (read-only).

import { verifyAuditFile } from '../audit/verify.js';
import { auditDbPath } from './audit-db.js';
import type { Command } from './command.js';

export const auditVerify: Command = {
  group: 'audit',
  name: 'verify',
  summary: 'Check that no audit record was altered, removed or reordered (hash chain).',
  description:
    'Reads <data-dir>/audit.db directly (read-only; the service may keep running) and checks every record against its ' +
    'hash and its predecessor, starting from the retention anchor. Prints "OK: N records, chain intact" and the head ' +
    '(last seq and hash: keep it elsewhere, since records cut off the end of the chain cannot be detected from the file ' +
    'alone), or names the first bad seq and what is wrong with it and exits 1.',
  options: [],
  async run(ctx) {
    const result = verifyAuditFile(auditDbPath(ctx));
    const anchor = result.anchor ? [`anchor: records up to seq ${result.anchor.seq} were removed by retention`] : [];
    if (result.ok) {
      ctx.out.print({
        json: result,
        table: { lines: [`OK: ${result.records} records, chain intact`, `head: seq ${result.head.seq}, hash ${result.head.hash}`, ...anchor] },
      });
      return 0;
    }
    const p = result.problem!;
    ctx.out.print({
      json: result,
      table: { lines: [`FAILED: seq ${p.seq}: ${p.kind}: ${p.detail}`, `intact before it: ${result.records} records (up to seq ${result.head.seq})`, ...anchor] },
    });
    return 1;
  },
};
