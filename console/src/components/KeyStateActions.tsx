// Enable, disable, schedule and cancel deletion of one key, with AWS's confirmations: disabling
// and scheduling deletion are confirmed explicitly, and deletion takes a 7–30 day waiting period.

import { CancelKeyDeletionCommand, DisableKeyCommand, EnableKeyCommand, type KeyMetadata, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { useConsole } from '../context.js';
import { ErrorNote } from './ErrorNote.js';
import { Confirm } from './Confirm.js';
import { useAction } from './hooks.js';

type Pending = 'disable' | 'delete' | undefined;

export function KeyStateActions({ metadata, onChanged }: { metadata: KeyMetadata; onChanged: () => void }) {
  const { kms } = useConsole();
  const keyId = metadata.KeyId!;
  const [pending, setPending] = useState<Pending>(undefined);
  const [confirmed, setConfirmed] = useState(false);
  const [days, setDays] = useState(30);
  const action = useAction(async (act: () => Promise<unknown>) => {
    await act();
    setPending(undefined);
    setConfirmed(false);
    onChanged();
  });
  const state = metadata.KeyState;
  const managedByAws = metadata.KeyManager === 'AWS';

  return (
    <div class="actions" data-testid="key-state-actions">
      {state === 'Disabled' ? (
        <button type="button" disabled={action.busy || managedByAws} onClick={() => void action.run(() => kms.send(new EnableKeyCommand({ KeyId: keyId })))}>
          Enable
        </button>
      ) : null}
      {state === 'Enabled' ? (
        <button type="button" disabled={action.busy || managedByAws} onClick={() => setPending('disable')}>
          Disable
        </button>
      ) : null}
      {state === 'PendingDeletion' ? (
        <button type="button" disabled={action.busy} onClick={() => void action.run(() => kms.send(new CancelKeyDeletionCommand({ KeyId: keyId })))}>
          Cancel key deletion
        </button>
      ) : (
        <button type="button" class="danger" disabled={action.busy || managedByAws} onClick={() => setPending('delete')}>
          Schedule key deletion
        </button>
      )}
      {pending === 'disable' ? (
        <Confirm
          label="Disable key"
          action="Disable key"
          kind="danger"
          disabled={!confirmed || action.busy}
          onConfirm={() => void action.run(() => kms.send(new DisableKeyCommand({ KeyId: keyId })))}
          onCancel={() => setPending(undefined)}
        >
          <p>A disabled key cannot be used in any cryptographic operation until it is enabled again.</p>
          <label class="check">
            <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.currentTarget.checked)} /> Confirm that you want to disable this key.
          </label>
        </Confirm>
      ) : null}
      {pending === 'delete' ? (
        <Confirm
          label="Schedule key deletion"
          action="Schedule deletion"
          kind="danger"
          disabled={!confirmed || action.busy}
          onConfirm={() => void action.run(() => kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: days })))}
          onCancel={() => setPending(undefined)}
        >
          <p>
            After the waiting period the key is deleted, and every ciphertext made under it can never be decrypted again. During the waiting period the key
            cannot be used, and the deletion can be cancelled.
          </p>
          <label>
            Waiting period (7–30 days)
            <input type="number" name="pendingWindowInDays" min={7} max={30} value={days} onInput={(e) => setDays(Number(e.currentTarget.value))} />
          </label>
          <label class="check">
            <input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.currentTarget.checked)} /> Confirm that you want to schedule this key
            for deletion after a {days} day waiting period.
          </label>
        </Confirm>
      ) : null}
      <ErrorNote error={action.error} />
    </div>
  );
}
