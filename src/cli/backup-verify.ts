// keybridge backup verify: checks a backup without restoring it (src/backup/verify.ts).

import { verifyBackup } from '../backup/verify.js';
import { req, type Command } from './command.js';

export const backupVerify: Command = {
  group: 'backup',
  name: 'verify',
  summary: 'Check a backup: every file against the manifest, the databases\' integrity and the audit trail.',
  description:
    'Checks that every file keybridge-backup.json lists is present with its size and SHA-256 and that nothing else is ' +
    'there, runs SQLite\'s integrity check on both databases, and verifies the audit trail (chain and signed digests) up ' +
    'to the head the manifest recorded. Prints OK, or each problem, and exits 1.',
  options: [{ name: 'from', kind: 'string', metavar: 'DIR', required: true, description: 'The backup directory.' }],
  async run(ctx) {
    const check = verifyBackup(req(ctx.values, 'from'));
    const m = check.manifest;
    ctx.out.print({
      json: { Ok: check.ok, Problems: check.problems, Manifest: m ?? null },
      table: {
        lines: check.ok
          ? [`OK: ${m!.files.length} files match the manifest; ${m!.contents.keys} keys; audit trail intact to seq ${m!.audit.head.seq} (taken ${m!.createdAt})`]
          : ['FAILED:', ...check.problems.map((p) => `  ${p}`)],
      },
    });
    return check.ok ? 0 : 1;
  },
};
