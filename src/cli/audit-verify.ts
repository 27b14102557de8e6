// keybridge audit verify: walks the hash chain of <data-dir>/audit.db (read-only) and checks the
// signed digests with the audit signing public key.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_SIGNING_KEY_FILE } from '../audit/digest.js';
import { verifyAuditFile, type VerifyResult } from '../audit/verify.js';
import { withAuditFile } from './audit-db.js';
import { str, type Command } from './command.js';

export const auditVerify: Command = {
  group: 'audit',
  name: 'verify',
  summary: 'Check that no audit record was altered, removed or reordered (hash chain and signed digests).',
  description:
    'Reads <data-dir>/audit.db directly (read-only; the service may keep running), or with a PostgreSQL store in --config a consistent copy of the database\'s trail, and checks every record against its ' +
    'hash and its predecessor, starting from the retention anchor, then every signed digest with the audit signing ' +
    `public key (<data-dir>/${AUDIT_SIGNING_KEY_FILE}, or --public-key; keep a copy of it elsewhere): signatures, the ` +
    'digest chain, the chain hash each digest signed, records cut off the end, and that the anchor is a signed head. ' +
    'Prints "OK: N records, chain intact", the head, the digests checked and how many records are not yet signed; or ' +
    'names the first bad seq and what is wrong with it and exits 1. Without a public key only the chain is checked.',
  options: [
    { name: 'public-key', kind: 'string', metavar: 'FILE', description: `The audit signing public key (PEM). Default: <data-dir>/${AUDIT_SIGNING_KEY_FILE} if it exists.` },
  ],
  async run(ctx) {
        const keyFile = str(ctx.values, 'public-key') ?? join(ctx.dataDir(), AUDIT_SIGNING_KEY_FILE);
    // An explicit --public-key must exist; the default may be absent (a trail copied without it).
    const publicKeyPem = str(ctx.values, 'public-key') !== undefined || existsSync(keyFile) ? readFileSync(keyFile) : undefined;
    const result = await withAuditFile(ctx, (path) => verifyAuditFile(path, publicKeyPem === undefined ? {} : { publicKeyPem }));
    const anchor = result.anchor ? [`anchor: records up to seq ${result.anchor.seq} were removed by retention`] : [];
    if (result.ok) {
      ctx.out.print({
        json: result,
        table: {
          lines: [`OK: ${result.records} records, chain intact`, `head: seq ${result.head.seq}, hash ${result.head.hash}`, ...digestLines(result, keyFile, publicKeyPem !== undefined), ...anchor],
        },
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

function digestLines(result: VerifyResult, keyFile: string, haveKey: boolean): string[] {
  const d = result.digests;
  const lines = haveKey
    ? [
        d.last
          ? `digests: ${d.count} signed digests verified with ${keyFile}; the last covers seq ${d.last.headSeq} (signed ${d.last.digestTime}, signature ${d.last.signature.slice(0, 16)}…)`
          : `digests: none yet (checked with ${keyFile})`,
      ]
    : [`digests: NOT checked (no public key at ${keyFile}; pass --public-key FILE)`];
  if (d.unsignedRecords > 0) lines.push(`${d.unsignedRecords} records after the last digest are not yet signed`);
  return lines;
}
