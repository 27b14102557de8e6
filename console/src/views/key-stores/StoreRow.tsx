// One custom key store: its row (state, connection error) with the AWS console's actions, and
// under it a row for whatever the actions open (confirmations, the edit form, their errors) and,
// for a connected CloudHSM store, its members' live health.

import { ConnectCustomKeyStoreCommand, DeleteCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { Confirm } from '../../components/Confirm.js';
import { useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { EditStoreForm } from './EditStoreForm.js';
import { dateTime } from './format.js';
import { MemberHealth } from './MemberHealth.js';
import type { Store } from './stores.js';

export const COLUMNS = 7;

type Pending = 'disconnect' | 'delete' | 'edit' | undefined;

export function StoreRow({ store, onChanged }: { store: Store; onChanged: () => void }) {
  const { kms } = useConsole();
  const id = store.CustomKeyStoreId!;
  const name = store.CustomKeyStoreName ?? '';
  const state = store.ConnectionState ?? 'UNKNOWN';
  const cloudHsm = store.CustomKeyStoreType !== 'EXTERNAL_KEY_STORE';
  const [pending, setPending] = useState<Pending>(undefined);
  const [typedName, setTypedName] = useState('');
  // undefined: the default, open for a connected CloudHSM store.
  const [membersOpen, setMembersOpen] = useState<boolean | undefined>(undefined);
  const showMembers = cloudHsm && state === 'CONNECTED' && (membersOpen ?? true);

  const action = useAction(async (act: () => Promise<unknown>) => {
    await act();
    setPending(undefined);
    setTypedName('');
    onChanged();
  });
  const open = (p: Pending) => {
    action.clear();
    setPending(pending === p ? undefined : p);
  };
  const hasDetail = pending !== undefined || action.error !== undefined || showMembers;

  return (
    <>
      <tr data-store-id={id}>
        <td data-label="Name">{name}</td>
        <td data-label="ID" class="mono nowrap">
          {id}
        </td>
        <td data-label="Type">{store.CustomKeyStoreType ?? 'AWS_CLOUDHSM'}</td>
        <td data-label={cloudHsm ? 'Cluster' : 'Proxy'} class="mono nowrap">
          {cloudHsm ? store.CloudHsmClusterId : `${store.XksProxyConfiguration?.UriEndpoint ?? ''}${store.XksProxyConfiguration?.UriPath ?? ''}`}
        </td>
        <td data-label="Connection state">
          <span class={`state state-${state}`} data-testid="connection-state">
            {state}
          </span>
          {store.ConnectionErrorCode ? (
            <div class="error-code mono" data-testid="connection-error">
              {store.ConnectionErrorCode}
            </div>
          ) : null}
        </td>
        <td data-label="Created">{dateTime(store.CreationDate)}</td>
        <td data-label="Actions">
          <div class="row-actions">
            <button
              type="button"
              disabled={action.busy || state === 'CONNECTED' || state === 'CONNECTING' || state === 'DISCONNECTING'}
              onClick={() => {
                setPending(undefined);
                void action.run(() => kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: id })));
              }}
            >
              Connect
            </button>
            <button type="button" disabled={action.busy || state === 'DISCONNECTED' || state === 'DISCONNECTING'} aria-expanded={pending === 'disconnect'} onClick={() => open('disconnect')}>
              Disconnect
            </button>
            <button type="button" disabled={action.busy} aria-expanded={pending === 'edit'} onClick={() => open('edit')}>
              Edit
            </button>
            <button type="button" class="danger" disabled={action.busy} aria-expanded={pending === 'delete'} onClick={() => open('delete')}>
              Delete
            </button>
            {cloudHsm && state === 'CONNECTED' ? (
              <button type="button" aria-expanded={showMembers} aria-controls={`health-${id}`} onClick={() => setMembersOpen(!showMembers)}>
                {showMembers ? 'Hide members' : 'Show members'}
              </button>
            ) : null}
          </div>
        </td>
      </tr>
      {hasDetail ? (
        <tr class="store-detail" data-detail-for={id}>
          <td colSpan={COLUMNS}>
            <div class="store-detail-inner">
              {pending === 'disconnect' ? (
                <Confirm
                  label={`Disconnect key store ${name}`}
                  action="Disconnect key store"
                  kind="danger"
                  disabled={action.busy}
                  onConfirm={() => void action.run(() => kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: id })))}
                  onCancel={() => setPending(undefined)}
                >
                  <p>
                    While <strong>{name}</strong> is disconnected, the KMS keys in it become unusable: every cryptographic operation with them fails until the key
                    store is connected again.
                  </p>
                </Confirm>
              ) : null}
              {pending === 'delete' ? (
                <Confirm
                  label={`Delete key store ${name}`}
                  action="Delete key store"
                  kind="danger"
                  disabled={action.busy || typedName !== name}
                  onConfirm={() => void action.run(() => kms.send(new DeleteCustomKeyStoreCommand({ CustomKeyStoreId: id })))}
                  onCancel={() => setPending(undefined)}
                >
                  <p>
                    Deleting a key store is permanent. It must be disconnected and hold no KMS keys. The keys in the cluster or behind the proxy are not deleted.
                  </p>
                  <label>
                    Type the key store's name, {name}, to confirm
                    <input name="confirmDelete" autocomplete="off" value={typedName} onInput={(e) => setTypedName(e.currentTarget.value)} />
                  </label>
                </Confirm>
              ) : null}
              {pending === 'edit' ? (
                <EditStoreForm
                  store={store}
                  onCancel={() => setPending(undefined)}
                  onSaved={() => {
                    setPending(undefined);
                    onChanged();
                  }}
                />
              ) : null}
              <ErrorNote error={action.error} />
              {showMembers ? <MemberHealth storeId={id} /> : null}
            </div>
          </td>
        </tr>
      ) : null}
    </>
  );
}
