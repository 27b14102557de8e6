import { z } from 'zod';

import { KmsError } from '../domain/errors.js';
import { epochSeconds } from '../operations/key-metadata.js';
import { defineAdminOperation } from './operation.js';

/**
 * The web console's "verify the audit trail" button: runs on this node's trail exactly what
 * `keybridge audit verify` runs (src/audit/verify.ts, through src/audit/trail-verifier.ts) — the
 * hash chain from the retention anchor, then every signed digest with the public key of the
 * service's audit signing key — on the trail file (audit.path), or on a consistent copy of the
 * PostgreSQL trail all nodes share. Root only, like every admin operation that reads the trail.
 *
 * The answer mirrors the CLI's `--output json` in AWS-style names:
 *   { Valid, Records (intact records checked; before the problem when there is one),
 *     FirstSequence (the first record checked, after the anchor), LastSequence and LastHash (the
 *     last intact record; present only when Records > 0), AnchorSequence (records up to it were
 *     removed by retention),
 *     Digests: { Checked, Count, LastHeadSequence?, LastDigestTime?, UnsignedRecords },
 *     Problems: ["seq S: <kind>: <detail>"] (the CLI's FAILED line, for display),
 *     Problem?: { Sequence, Kind, Detail } (the same, structured: Kind is one of verify.ts's
 *     ProblemKind; Sequence lets the console open the record), VerifiedAt (epoch seconds) }
 * Verification stops at the FIRST problem (what follows an altered or missing record cannot be
 * trusted either), so Problems holds at most one entry; it is a list so that a verifier which
 * reports more later needs no new member. A trail that cannot be read at all is not a verdict
 * but an error: KMSInternalException (the cause is logged, not sent).
 *
 * The check runs in a worker thread of its own (trail-verifier.ts): the node keeps serving meanwhile.
 */
export const verifyAuditTrail = defineAdminOperation({
  name: 'VerifyAuditTrail',
  input: z.object({}),
  async run(_ctx, deps) {
    if (deps.auditVerifier === undefined) throw new KmsError('UnsupportedOperationException', 'VerifyAuditTrail is not available: this node has no audit trail to verify.');
    let result;
    try {
      result = await deps.auditVerifier.verify();
    } catch (err) {
      throw new KmsError('KMSInternalException', 'The audit trail could not be read, so it was not verified.', { cause: err });
    }
    const first = (result.anchor?.seq ?? 0) + 1;
    const d = result.digests;
    return {
      Valid: result.ok,
      Records: result.records,
      ...(result.records > 0 ? { FirstSequence: first, LastSequence: result.head.seq, LastHash: result.head.hash } : {}),
      ...(result.anchor === undefined ? {} : { AnchorSequence: result.anchor.seq }),
      Digests: {
        Checked: d.checked,
        Count: d.count,
        ...(d.last === undefined ? {} : { LastHeadSequence: d.last.headSeq, LastDigestTime: epochSeconds(Date.parse(d.last.digestTime)) }),
        UnsignedRecords: d.unsignedRecords,
      },
      Problems: result.problem === undefined ? [] : [`seq ${result.problem.seq}: ${result.problem.kind}: ${result.problem.detail}`],
      ...(result.problem === undefined ? {} : { Problem: { Sequence: result.problem.seq, Kind: result.problem.kind, Detail: result.problem.detail } }),
      VerifiedAt: epochSeconds(deps.clock.now()),
    };
  },
});
