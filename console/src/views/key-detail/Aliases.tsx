// The aliases that point at this key: add one, delete one. The list is loaded by KeyDetail, whose
// heading shows the first alias.

import { type AliasListEntry, CreateAliasCommand, DeleteAliasCommand } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { Confirm } from '../../components/Confirm.js';
import { type Loaded, useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';

export function Aliases({ keyId, aliases }: { keyId: string; aliases: Loaded<AliasListEntry[]> }) {
  const { kms } = useConsole();
  const [name, setName] = useState('');
  const create = useAction(async () => {
    const trimmed = name.trim();
    await kms.send(new CreateAliasCommand({ AliasName: trimmed.startsWith('alias/') ? trimmed : `alias/${trimmed}`, TargetKeyId: keyId }));
    setName('');
    aliases.reload();
  });
  const list = aliases.data ?? [];

  return (
    <section class="card" aria-labelledby="aliases-heading" data-testid="key-aliases">
      <h2 id="aliases-heading">Aliases</h2>
      <ErrorNote error={aliases.error} />
      {list.length === 0 && !aliases.loading && aliases.error === undefined ? <p class="muted">This key has no aliases.</p> : null}
      {list.length > 0 ? (
        <ul class="alias-list" data-testid="aliases">
          {list.map((a) => (
            <AliasItem key={a.AliasName} name={a.AliasName!} onDeleted={aliases.reload} />
          ))}
        </ul>
      ) : null}
      <form
        class="row"
        aria-label="Create alias"
        onSubmit={(e) => {
          e.preventDefault();
          void create.run();
        }}
      >
        <label>
          New alias
          <input name="aliasName" placeholder="alias/my-key" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={create.busy || name.trim() === ''}>
          Create alias
        </button>
      </form>
      <ErrorNote error={create.error} />
    </section>
  );
}

function AliasItem({ name, onDeleted }: { name: string; onDeleted: () => void }) {
  const { kms } = useConsole();
  const [confirming, setConfirming] = useState(false);
  const remove = useAction(async () => {
    await kms.send(new DeleteAliasCommand({ AliasName: name }));
    onDeleted();
  });
  return (
    <li data-alias={name}>
      <div class="row">
        <span class="mono">{name}</span>
        <button type="button" class="danger" aria-label={`Delete ${name}`} disabled={remove.busy} onClick={() => setConfirming(true)}>
          Delete
        </button>
      </div>
      {confirming ? (
        <Confirm label={`Delete ${name}`} action="Delete alias" kind="danger" disabled={remove.busy} onConfirm={() => void remove.run()} onCancel={() => setConfirming(false)}>
          <p>Applications that use {name} will no longer find this key through it.</p>
        </Confirm>
      ) : null}
      <ErrorNote error={remove.error} />
    </li>
  );
}
