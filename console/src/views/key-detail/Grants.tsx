// The key's grants: who may use it for what, under which constraints. Retire or revoke one (revoke
// is confirmed first), or create one with the operations this key's spec and usage allow.

import { type GrantListEntry, type KeyMetadata, ListGrantsCommand, RetireGrantCommand, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { Confirm } from '../../components/Confirm.js';
import { useAction, useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { CreateGrantForm } from './CreateGrantForm.js';
import { allPages, formatDate } from './format.js';

export function Grants({ keyId, metadata }: { keyId: string; metadata: KeyMetadata | undefined }) {
  const { kms } = useConsole();
  const grants = useLoad(
    () =>
      allPages<GrantListEntry>(async (marker) => {
        const page = await kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
        return { items: page.Grants, truncated: page.Truncated, next: page.NextMarker };
      }),
    [keyId],
  );
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | undefined>(undefined);
  const list = grants.data ?? [];

  return (
    <section class="card" aria-labelledby="grants-heading" data-testid="key-grants">
      <div class="heading">
        <h2 id="grants-heading">Grants</h2>
        <div class="actions">
          <button type="button" onClick={grants.reload} disabled={grants.loading}>
            Refresh
          </button>
          <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
            Create grant
          </button>
        </div>
      </div>
      {creating ? (
        <CreateGrantForm
          keyId={keyId}
          metadata={metadata}
          onCancel={() => setCreating(false)}
          onCreated={(grantId) => {
            setCreated(grantId);
            setCreating(false);
            grants.reload();
          }}
        />
      ) : null}
      {created !== undefined ? (
        <p class="ok" role="status" data-testid="grant-created">
          Grant created: <span class="mono">{created}</span>
        </p>
      ) : null}
      <ErrorNote error={grants.error} />
      <div class="table-wrap">
        <table data-testid="grants-table">
          <thead>
            <tr>
              <th>Grant ID</th>
              <th>Name</th>
              <th>Grantee principal</th>
              <th>Retiring principal</th>
              <th>Operations</th>
              <th>Constraints</th>
              <th>Created</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.map((g) => (
              <GrantRow key={g.GrantId} keyId={keyId} grant={g} onGone={grants.reload} />
            ))}
          </tbody>
        </table>
        {!grants.loading && grants.error === undefined && list.length === 0 ? <p class="muted empty">This key has no grants.</p> : null}
      </div>
    </section>
  );
}

function constraintsText(grant: GrantListEntry): string | undefined {
  const c = grant.Constraints;
  const parts: string[] = [];
  const pairs = (m: Record<string, string>) => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ');
  if (c?.EncryptionContextEquals !== undefined) parts.push(`EncryptionContextEquals: ${pairs(c.EncryptionContextEquals)}`);
  if (c?.EncryptionContextSubset !== undefined) parts.push(`EncryptionContextSubset: ${pairs(c.EncryptionContextSubset)}`);
  return parts.length === 0 ? undefined : parts.join('; ');
}

function GrantRow({ keyId, grant, onGone }: { keyId: string; grant: GrantListEntry; onGone: () => void }) {
  const { kms } = useConsole();
  const [confirming, setConfirming] = useState(false);
  const act = useAction(async (call: () => Promise<unknown>) => {
    await call();
    onGone();
  });
  const grantId = grant.GrantId!;
  const dash = <span class="muted">—</span>;
  return (
    <tr data-grant-id={grantId}>
      <td class="mono grant-id">{grantId}</td>
      <td>{grant.Name ?? dash}</td>
      <td class="mono">{grant.GranteePrincipal}</td>
      <td class="mono">{grant.RetiringPrincipal ?? dash}</td>
      <td>{(grant.Operations ?? []).join(', ')}</td>
      <td>{constraintsText(grant) ?? dash}</td>
      <td>{formatDate(grant.CreationDate)}</td>
      <td>
        <div class="actions">
          <button type="button" disabled={act.busy} onClick={() => void act.run(() => kms.send(new RetireGrantCommand({ KeyId: keyId, GrantId: grantId })))}>
            Retire
          </button>
          <button type="button" class="danger" disabled={act.busy} aria-expanded={confirming} onClick={() => setConfirming(true)}>
            Revoke
          </button>
        </div>
        {confirming ? (
          <Confirm
            label="Revoke grant"
            action="Revoke grant"
            kind="danger"
            disabled={act.busy}
            onConfirm={() => void act.run(() => kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: grantId })))}
            onCancel={() => setConfirming(false)}
          >
            <p>The grantee loses every permission this grant gives, at once.</p>
          </Confirm>
        ) : null}
        <ErrorNote error={act.error} />
      </td>
    </tr>
  );
}
