// Keys: the list (state, spec, usage, store, aliases, rotation), a filter, pages of 20 as
// ListKeys returns them, and the create form (symmetric, asymmetric or HMAC; default store or a
// custom key store).

import {
  type AliasListEntry,
  CreateAliasCommand,
  CreateKeyCommand,
  type CustomKeyStoresListEntry,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  GetKeyRotationStatusCommand,
  type KeyMetadata,
  type KeySpec,
  type KeyUsageType,
  ListAliasesCommand,
  ListKeysCommand,
} from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../components/ErrorNote.js';
import { useAction, useLoad } from '../components/hooks.js';
import { useConsole } from '../context.js';

const PAGE_SIZE = 20;

interface KeyRow {
  readonly metadata: KeyMetadata;
  readonly aliases: string[];
  /** undefined when the key has no rotation status (asymmetric, HMAC, imported, external). */
  readonly rotation: boolean | undefined;
}

async function allAliases(kms: ReturnType<typeof useConsole>['kms']): Promise<AliasListEntry[]> {
  const aliases: AliasListEntry[] = [];
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListAliasesCommand({ Limit: 100, ...(marker ? { Marker: marker } : {}) }));
    aliases.push(...(page.Aliases ?? []));
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker !== undefined);
  return aliases;
}

export function Keys() {
  const { kms } = useConsole();
  // Markers of the pages before the shown one; the last is the shown page's own marker.
  const [markers, setMarkers] = useState<Array<string | undefined>>([undefined]);
  const [filter, setFilter] = useState('');
  const [stateFilter, setStateFilter] = useState('');
  const [creating, setCreating] = useState(false);
  const marker = markers[markers.length - 1];

  const page = useLoad(async () => {
    const listed = await kms.send(new ListKeysCommand({ Limit: PAGE_SIZE, ...(marker ? { Marker: marker } : {}) }));
    const aliases = await allAliases(kms);
    const rows = await Promise.all(
      (listed.Keys ?? []).map(async ({ KeyId }): Promise<KeyRow> => {
        const metadata = (await kms.send(new DescribeKeyCommand({ KeyId: KeyId! }))).KeyMetadata!;
        let rotation: boolean | undefined;
        if (metadata.KeySpec === 'SYMMETRIC_DEFAULT' && metadata.Origin === 'AWS_KMS' && metadata.KeyState !== 'PendingDeletion') {
          rotation = await kms.send(new GetKeyRotationStatusCommand({ KeyId: KeyId! })).then((r) => r.KeyRotationEnabled ?? false, () => undefined);
        }
        return { metadata, aliases: aliases.filter((a) => a.TargetKeyId === KeyId).map((a) => a.AliasName!), rotation };
      }),
    );
    return { rows, next: listed.Truncated ? listed.NextMarker : undefined };
  }, [marker]);

  const needle = filter.trim().toLowerCase();
  const shown = (page.data?.rows ?? []).filter(
    (row) =>
      (stateFilter === '' || row.metadata.KeyState === stateFilter) &&
      (needle === '' ||
        [row.metadata.KeyId, row.metadata.Description, row.metadata.KeySpec, row.metadata.CustomKeyStoreId, ...row.aliases].some((v) => v?.toLowerCase().includes(needle))),
  );

  return (
    <section>
      <div class="heading">
        <h1>Keys</h1>
        <button type="button" class="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          Create key
        </button>
      </div>
      {creating ? <CreateKeyForm onCancel={() => setCreating(false)} /> : null}
      <div class="toolbar">
        <label>
          Filter
          <input type="search" name="filter" placeholder="Key ID, alias, description, spec, store" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        </label>
        <label>
          State
          <select name="state" value={stateFilter} onChange={(e) => setStateFilter(e.currentTarget.value)}>
            <option value="">Any</option>
            {['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport', 'Unavailable', 'Creating'].map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={page.reload} disabled={page.loading}>
          Refresh
        </button>
      </div>
      <ErrorNote error={page.error} />
      <div class="table-wrap">
        <table data-testid="keys-table">
          <thead>
            <tr>
              <th>Aliases</th>
              <th>Key ID</th>
              <th>State</th>
              <th>Key spec</th>
              <th>Usage</th>
              <th>Store</th>
              <th>Rotation</th>
            </tr>
          </thead>
          <tbody>
            {shown.map(({ metadata, aliases, rotation }) => (
              <tr data-key-id={metadata.KeyId}>
                <td>{aliases.length === 0 ? <span class="muted">—</span> : aliases.join(', ')}</td>
                <td>
                  <a href={`#/keys/${encodeURIComponent(metadata.KeyId!)}`} class="mono">
                    {metadata.KeyId}
                  </a>
                </td>
                <td>
                  <span class={`state state-${metadata.KeyState}`}>{metadata.KeyState}</span>
                </td>
                <td>{metadata.KeySpec}</td>
                <td>{metadata.KeyUsage}</td>
                <td>{metadata.CustomKeyStoreId ?? 'default'}</td>
                <td>{rotation === undefined ? <span class="muted">—</span> : rotation ? 'Enabled' : 'Disabled'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!page.loading && shown.length === 0 ? <p class="muted">No keys{needle !== '' || stateFilter !== '' ? ' match the filter on this page' : ''}.</p> : null}
      </div>
      <div class="pager">
        <button type="button" disabled={markers.length === 1 || page.loading} onClick={() => setMarkers(markers.slice(0, -1))}>
          Previous page
        </button>
        <span class="muted">Page {markers.length}</span>
        <button type="button" disabled={page.data?.next === undefined || page.loading} onClick={() => setMarkers([...markers, page.data!.next])}>
          Next page
        </button>
      </div>
    </section>
  );
}

type KeyKind = 'symmetric' | 'asymmetric' | 'hmac';

const ASYMMETRIC_SPECS: readonly KeySpec[] = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'];
const HMAC_SPECS: readonly KeySpec[] = ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512'];

function usagesFor(spec: KeySpec): KeyUsageType[] {
  if (spec.startsWith('RSA')) return ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'];
  if (spec === 'ECC_SECG_P256K1') return ['SIGN_VERIFY'];
  return ['SIGN_VERIFY', 'KEY_AGREEMENT'];
}

function CreateKeyForm({ onCancel }: { onCancel: () => void }) {
  const { kms } = useConsole();
  const [kind, setKind] = useState<KeyKind>('symmetric');
  const [spec, setSpec] = useState<KeySpec>('RSA_2048');
  const [usage, setUsage] = useState<KeyUsageType>('ENCRYPT_DECRYPT');
  const [hmacSpec, setHmacSpec] = useState<KeySpec>('HMAC_256');
  const [store, setStore] = useState('');
  const [alias, setAlias] = useState('');
  const [description, setDescription] = useState('');
  const stores = useLoad(async () => (await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores ?? [], []);
  const chosenStore: CustomKeyStoresListEntry | undefined = stores.data?.find((s) => s.CustomKeyStoreId === store);
  const [xksKeyId, setXksKeyId] = useState('');

  const create = useAction(async () => {
    const input = {
      Description: description,
      ...(kind === 'symmetric' ? { KeySpec: 'SYMMETRIC_DEFAULT' as const, KeyUsage: 'ENCRYPT_DECRYPT' as const } : {}),
      ...(kind === 'asymmetric' ? { KeySpec: spec, KeyUsage: usagesFor(spec).includes(usage) ? usage : usagesFor(spec)[0]! } : {}),
      ...(kind === 'hmac' ? { KeySpec: hmacSpec, KeyUsage: 'GENERATE_VERIFY_MAC' as const } : {}),
      ...(chosenStore === undefined
        ? {}
        : chosenStore.CustomKeyStoreType === 'EXTERNAL_KEY_STORE'
          ? { CustomKeyStoreId: store, Origin: 'EXTERNAL_KEY_STORE' as const, XksKeyId: xksKeyId }
          : { CustomKeyStoreId: store, Origin: 'AWS_CLOUDHSM' as const }),
    };
    const created = await kms.send(new CreateKeyCommand(input));
    const keyId = created.KeyMetadata!.KeyId!;
    if (alias.trim() !== '') {
      const name = alias.trim().startsWith('alias/') ? alias.trim() : `alias/${alias.trim()}`;
      await kms.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: keyId }));
    }
    window.location.hash = `#/keys/${encodeURIComponent(keyId)}`;
  });

  return (
    <form
      class="card"
      aria-label="Create key"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <fieldset>
        <legend>Key type</legend>
        {(['symmetric', 'asymmetric', 'hmac'] as const).map((k) => (
          <label class="check">
            <input type="radio" name="keyType" value={k} checked={kind === k} onChange={() => setKind(k)} /> {k === 'hmac' ? 'HMAC' : k[0]!.toUpperCase() + k.slice(1)}
          </label>
        ))}
      </fieldset>
      {kind === 'asymmetric' ? (
        <div class="row">
          <label>
            Key spec
            <select name="keySpec" value={spec} onChange={(e) => setSpec(e.currentTarget.value as KeySpec)}>
              {ASYMMETRIC_SPECS.map((s) => (
                <option value={s}>{s}</option>
              ))}
            </select>
          </label>
          <label>
            Key usage
            <select name="keyUsage" value={usagesFor(spec).includes(usage) ? usage : usagesFor(spec)[0]} onChange={(e) => setUsage(e.currentTarget.value as KeyUsageType)}>
              {usagesFor(spec).map((u) => (
                <option value={u}>{u}</option>
              ))}
            </select>
          </label>
        </div>
      ) : null}
      {kind === 'hmac' ? (
        <label>
          Key spec
          <select name="hmacSpec" value={hmacSpec} onChange={(e) => setHmacSpec(e.currentTarget.value as KeySpec)}>
            {HMAC_SPECS.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
      ) : null}
      <label>
        Key store
        <select name="customKeyStoreId" value={store} onChange={(e) => setStore(e.currentTarget.value)}>
          <option value="">Default key store</option>
          {(stores.data ?? []).map((s) => (
            <option value={s.CustomKeyStoreId} disabled={s.ConnectionState !== 'CONNECTED'}>
              {s.CustomKeyStoreName} ({s.CustomKeyStoreId}, {s.ConnectionState})
            </option>
          ))}
        </select>
      </label>
      {chosenStore?.CustomKeyStoreType === 'EXTERNAL_KEY_STORE' ? (
        <label>
          External key ID (XksKeyId)
          <input name="xksKeyId" value={xksKeyId} onInput={(e) => setXksKeyId(e.currentTarget.value)} />
        </label>
      ) : null}
      <label>
        Alias (optional)
        <input name="alias" placeholder="alias/my-key" value={alias} onInput={(e) => setAlias(e.currentTarget.value)} />
      </label>
      <label>
        Description (optional)
        <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <ErrorNote error={stores.error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={create.busy}>
          {create.busy ? 'Creating…' : 'Create'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorNote error={create.error} />
    </form>
  );
}
