// Custom key stores, as the AWS console shows them: the list with connection states and per-store
// actions, the create form, and for keybridge's own clusters the members' live health.

import { useState } from 'preact/hooks';

import { ErrorNote } from '../components/ErrorNote.js';
import { useInterval, useLoad } from '../components/hooks.js';
import { useConsole } from '../context.js';
import { CreateStoreForm } from './key-stores/CreateStoreForm.js';
import { clock } from './key-stores/format.js';
import './key-stores/KeyStores.css';
import { StoreRow } from './key-stores/StoreRow.js';
import { allStores, TRANSITIONAL } from './key-stores/stores.js';

const WATCH_MS = 2000;

export function KeyStores() {
  const { kms } = useConsole();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | undefined>(undefined);
  const list = useLoad(async () => ({ at: new Date(), stores: await allStores(kms) }), [kms]);
  const stores = list.data?.stores ?? [];
  const settling = stores.some((s) => TRANSITIONAL.has(s.ConnectionState ?? ''));

  // Connecting a cluster takes seconds; the list follows it until every store has settled.
  useInterval(() => {
    if (settling && !list.loading) list.reload();
  }, WATCH_MS);

  return (
    <section class="key-stores">
      <div class="heading">
        <h1>Custom key stores</h1>
        <button
          type="button"
          class="primary"
          aria-expanded={creating}
          onClick={() => {
            setCreating(!creating);
            setCreated(undefined);
          }}
        >
          Create key store
        </button>
      </div>
      {creating ? (
        <CreateStoreForm
          onCancel={() => setCreating(false)}
          onCreated={(id) => {
            setCreating(false);
            setCreated(id);
            list.reload();
          }}
        />
      ) : null}
      {created !== undefined ? (
        <p class="ok" role="status" data-testid="store-created">
          Created key store <span class="mono">{created}</span>. Connect it to use it.
        </p>
      ) : null}
      <div class="toolbar">
        <button type="button" onClick={list.reload} disabled={list.loading}>
          Refresh
        </button>
        {list.data === undefined ? null : (
          <span class="muted" data-testid="stores-updated">
            {settling ? 'Watching connection changes… ' : ''}updated {clock(list.data.at)}
          </span>
        )}
      </div>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table class="stores" data-testid="stores-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>ID</th>
              <th>Type</th>
              <th>Cluster / proxy</th>
              <th>Connection state</th>
              <th>Created</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {stores.map((store) => (
              <StoreRow key={store.CustomKeyStoreId} store={store} onChanged={list.reload} />
            ))}
          </tbody>
        </table>
        {list.data !== undefined && stores.length === 0 ? <p class="muted empty">No custom key stores.</p> : null}
      </div>
    </section>
  );
}
