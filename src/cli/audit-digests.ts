// keybridge audit digests: the signed digests as files OpenSSL can check with the public key alone.

import { exportDigestFiles } from '../audit/digest-files.js';
import { AUDIT_SIGNING_KEY_FILE } from '../audit/digest.js';
import { withAuditFile } from './audit-db.js';
import { req, type Command } from './command.js';

export const auditDigests: Command = {
  group: 'audit',
  name: 'digests',
  summary: 'Write each signed audit digest as <seq>.json (the signed bytes) and <seq>.sig (DER signature).',
  description:
    'Reads <data-dir>/audit.db (read-only; with a PostgreSQL store in --config, a consistent copy of the database\'s trail) and writes every signed digest to --dir, named by the last record it covers. ' +
    `Check one with the public key alone: openssl dgst -sha256 -verify ${AUDIT_SIGNING_KEY_FILE} -signature N.sig N.json. ` +
    'A file that exists with different contents is never replaced (the command fails naming it).',
  options: [{ name: 'dir', kind: 'string', metavar: 'DIR', required: true, description: 'Directory to write to (created if missing).' }],
  async run(ctx) {
    const result = await withAuditFile(ctx, (path) => exportDigestFiles(path, req(ctx.values, 'dir')));
    ctx.out.print({ json: result, table: { columns: ['Digest', 'Files'], rows: result.digests.map((s) => [s, `${s}.json ${s}.sig`]) } });
    if (result.digests.length === 0) ctx.warn('the audit trail has no signed digests yet');
    return 0;
  },
};
