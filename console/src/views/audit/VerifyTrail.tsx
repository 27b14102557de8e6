// "Verify trail": the server checks its hash chain and signed digests as `keybridge audit verify`
// does, and says whether the trail is intact. A failed call clears the previous verdict so an old
// "verified" never stands next to a new error.

import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { isoOf, localOf } from './time.js';
import type { VerifyAuditTrailOutput } from './types.js';

export function VerifyTrail() {
  const { admin } = useConsole();
  const [result, setResult] = useState<VerifyAuditTrailOutput | undefined>(undefined);
  const verify = useAction(async () => {
    setResult(undefined);
    setResult(await admin<VerifyAuditTrailOutput>('VerifyAuditTrail'));
  });
  return (
    <div class="audit-verify">
      <div class="toolbar">
        <button type="button" onClick={() => void verify.run()} disabled={verify.busy}>
          {verify.busy ? 'Verifying…' : 'Verify trail'}
        </button>
        <p class="muted">
          Checks the hash chain and the HSM-signed digests, as <code>keybridge audit verify</code> does.
        </p>
      </div>
      <ErrorNote error={verify.error} />
      {result === undefined ? null : <VerifyResult result={result} />}
    </div>
  );
}

function VerifyResult({ result }: { result: VerifyAuditTrailOutput }) {
  const digests = result.Digests;
  const problems = result.Problems ?? [];
  return (
    <div data-testid="verify-result" class={`verify-result ${result.Valid ? 'ok' : 'error'}`} role="status">
      <strong>
        {result.Valid
          ? `Trail verified: hash chain intact${digests === undefined ? '' : digests.Checked ? ', signed digests valid' : ', signed digests not checked'}.`
          : 'Trail check FAILED: the trail has been altered or records are missing.'}
      </strong>
      {problems.length === 0 ? null : (
        <ul class="verify-problems">
          {problems.map((p) => (
            <li class="mono">{p}</li>
          ))}
        </ul>
      )}
      <dl class="props">
        <dt>{result.Valid ? 'Records' : 'Intact records'}</dt>
        <dd>{result.Records}</dd>
        {result.FirstSequence === undefined || result.LastSequence === undefined ? null : (
          <>
            <dt>Sequence range</dt>
            <dd>
              {result.FirstSequence} – {result.LastSequence}
            </dd>
          </>
        )}
        {result.AnchorSequence === undefined ? null : (
          <>
            <dt>Removed by retention</dt>
            <dd>records up to seq {result.AnchorSequence}</dd>
          </>
        )}
        {result.LastHash === undefined ? null : (
          <>
            <dt>Last hash</dt>
            <dd class="mono">{result.LastHash}</dd>
          </>
        )}
        {digests === undefined ? null : (
          <>
            <dt>Signed digests</dt>
            <dd>{digestsText(digests, result.Valid)}</dd>
            {result.Valid ? (
              <>
                <dt>Not yet signed</dt>
                <dd>
                  {digests.UnsignedRecords} {digests.UnsignedRecords === 1 ? 'record' : 'records'} after the last digest (signed at the next digest interval)
                </dd>
              </>
            ) : null}
          </>
        )}
        {result.VerifiedAt === undefined ? null : (
          <>
            <dt>Checked at</dt>
            <dd>
              <time dateTime={isoOf(result.VerifiedAt)} title={isoOf(result.VerifiedAt)}>
                {localOf(result.VerifiedAt)}
              </time>
            </dd>
          </>
        )}
      </dl>
    </div>
  );
}

function digestsText(d: NonNullable<VerifyAuditTrailOutput['Digests']>, valid: boolean): string {
  // Unchecked on a valid trail: the server has no signing key; on a failed one: the chain broke first.
  if (!d.Checked) return valid ? 'not checked (no signing key)' : `${d.Count} stored, not checked (the hash chain failed first)`;
  if (d.Count === 0) return 'none yet';
  if (!valid) return `${d.Count} stored; see the problem above`;
  const last = d.LastHeadSequence === undefined ? '' : `; the last covers up to seq ${d.LastHeadSequence}`;
  const when = d.LastDigestTime === undefined ? '' : `, signed ${localOf(d.LastDigestTime)}`;
  return `${d.Count} checked, signatures valid${last}${when}`;
}
