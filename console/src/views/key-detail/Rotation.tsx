// Key rotation of a symmetric encryption key: automatic rotation on or off and its period,
// rotating now, and the rotations so far. keybridge rotates keys in its custom key stores too
// (AWS does not), so only the key's spec and origin decide whether the section applies.

import {
  DisableKeyRotationCommand,
  EnableKeyRotationCommand,
  GetKeyRotationStatusCommand,
  type KeyMetadata,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type RotationsListEntry,
} from '@aws-sdk/client-kms';
import { useEffect, useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { Confirm } from '../../components/Confirm.js';
import { useAction, useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { allPages, formatDate } from './format.js';

const MIN_DAYS = 90;
const MAX_DAYS = 2560;

export function rotationUnsupportedReason(metadata: KeyMetadata): string | undefined {
  if (metadata.KeySpec !== 'SYMMETRIC_DEFAULT') return `Only symmetric encryption keys rotate; this key's spec is ${metadata.KeySpec}.`;
  if (metadata.Origin === 'EXTERNAL') return 'keybridge does not rotate keys with imported key material.';
  if (metadata.Origin === 'EXTERNAL_KEY_STORE') return 'A key in an external key store is rotated in its external key manager.';
  return undefined;
}

export function Rotation({ metadata }: { metadata: KeyMetadata }) {
  const unsupported = rotationUnsupportedReason(metadata);
  return (
    <section class="card" aria-labelledby="rotation-heading" data-testid="key-rotation">
      <h2 id="rotation-heading">Key rotation</h2>
      {unsupported !== undefined ? (
        <p class="muted" data-testid="rotation-unsupported">
          {unsupported}
        </p>
      ) : (
        <RotationControls keyId={metadata.KeyId!} keyState={metadata.KeyState} />
      )}
    </section>
  );
}

function RotationControls({ keyId, keyState }: { keyId: string; keyState: string | undefined }) {
  const { kms } = useConsole();
  const status = useLoad(() => kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId })), [keyId, keyState]);
  const history = useLoad(
    () =>
      allPages<RotationsListEntry>(async (marker) => {
        const page = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
        return { items: page.Rotations, truncated: page.Truncated, next: page.NextMarker };
      }),
    [keyId],
  );
  const [period, setPeriod] = useState(String(365));
  const [confirmingRotate, setConfirmingRotate] = useState(false);
  const enabled = status.data?.KeyRotationEnabled === true;
  useEffect(() => {
    if (status.data?.RotationPeriodInDays !== undefined) setPeriod(String(status.data.RotationPeriodInDays));
  }, [status.data?.RotationPeriodInDays]);

  const days = Number(period);
  const periodInvalid = !Number.isInteger(days) || days < MIN_DAYS || days > MAX_DAYS ? `Enter a whole number of days from ${MIN_DAYS} to ${MAX_DAYS}.` : undefined;
  const refresh = () => {
    status.reload();
    history.reload();
  };
  const change = useAction(async (call: () => Promise<unknown>) => {
    await call();
    refresh();
  });
  const rotate = useAction(async () => {
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    setConfirmingRotate(false);
    refresh();
  });
  const s = status.data;

  return (
    <>
      <ErrorNote error={status.error} />
      {s !== undefined ? (
        <dl class="props">
          <dt>Automatic rotation</dt>
          <dd data-testid="rotation-status">{enabled ? 'Enabled' : 'Disabled'}</dd>
          {enabled ? (
            <>
              <dt>Rotation period</dt>
              <dd>{s.RotationPeriodInDays} days</dd>
              <dt>Next rotation</dt>
              <dd>{formatDate(s.NextRotationDate)}</dd>
            </>
          ) : null}
          {s.OnDemandRotationStartDate !== undefined ? (
            <>
              <dt>On-demand rotation started</dt>
              <dd>{formatDate(s.OnDemandRotationStartDate)}</dd>
            </>
          ) : null}
        </dl>
      ) : null}
      <form
        class="row"
        aria-label="Automatic rotation"
        onSubmit={(e) => {
          e.preventDefault();
          void change.run(() => kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: days })));
        }}
      >
        <label>
          Rotation period ({MIN_DAYS}–{MAX_DAYS} days)
          <input
            type="number"
            name="rotationPeriodInDays"
            min={MIN_DAYS}
            max={MAX_DAYS}
            step={1}
            value={period}
            aria-invalid={periodInvalid !== undefined}
            onInput={(e) => setPeriod(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class={enabled ? '' : 'primary'} disabled={change.busy || periodInvalid !== undefined || s === undefined}>
          {enabled ? 'Update rotation period' : 'Enable automatic rotation'}
        </button>
        {enabled ? (
          <button type="button" disabled={change.busy} onClick={() => void change.run(() => kms.send(new DisableKeyRotationCommand({ KeyId: keyId })))}>
            Disable automatic rotation
          </button>
        ) : null}
      </form>
      {periodInvalid !== undefined ? (
        <p class="error" data-testid="rotation-period-invalid">
          {periodInvalid}
        </p>
      ) : null}
      <ErrorNote error={change.error} />
      <div class="actions">
        <button type="button" disabled={rotate.busy} aria-expanded={confirmingRotate} onClick={() => setConfirmingRotate(true)}>
          Rotate now
        </button>
      </div>
      {confirmingRotate ? (
        <Confirm
          label="Rotate key now"
          action={rotate.busy ? 'Rotating…' : 'Rotate key now'}
          kind="primary"
          disabled={rotate.busy}
          onConfirm={() => void rotate.run()}
          onCancel={() => setConfirmingRotate(false)}
        >
          <p>
            New key material is made now and used for all new encryption; ciphertexts made before stay decryptable. The automatic schedule does not change. A key can be
            rotated on demand a limited number of times.
          </p>
        </Confirm>
      ) : null}
      <ErrorNote error={rotate.error} />
      <h3>Rotation history</h3>
      <ErrorNote error={history.error} />
      <div class="table-wrap">
        <table data-testid="rotations-table">
          <thead>
            <tr>
              <th>Rotation date</th>
              <th>Type</th>
            </tr>
          </thead>
          <tbody>
            {(history.data ?? []).map((r) => (
              <tr data-rotation-type={r.RotationType}>
                <td>{formatDate(r.RotationDate)}</td>
                <td>{r.RotationType}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!history.loading && history.error === undefined && (history.data ?? []).length === 0 ? <p class="muted empty">This key has not been rotated yet.</p> : null}
      </div>
    </>
  );
}
