// The key's tags: add (or overwrite) one with TagResource, remove one with UntagResource.

import { ListResourceTagsCommand, type Tag, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction, useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { allPages } from './format.js';

export function Tags({ keyId }: { keyId: string }) {
  const { kms } = useConsole();
  const tags = useLoad(
    () =>
      allPages<Tag>(async (marker) => {
        const page = await kms.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: 50, ...(marker ? { Marker: marker } : {}) }));
        return { items: page.Tags, truncated: page.Truncated, next: page.NextMarker };
      }),
    [keyId],
  );
  const [tagKey, setTagKey] = useState('');
  const [tagValue, setTagValue] = useState('');
  const add = useAction(async () => {
    await kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: tagKey.trim(), TagValue: tagValue }] }));
    setTagKey('');
    setTagValue('');
    tags.reload();
  });
  const list = tags.data ?? [];

  return (
    <section class="card" aria-labelledby="tags-heading" data-testid="key-tags">
      <h2 id="tags-heading">Tags</h2>
      <ErrorNote error={tags.error} />
      {list.length > 0 ? (
        <div class="table-wrap">
          <table data-testid="tags-table">
            <thead>
              <tr>
                <th>Key</th>
                <th>Value</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((t) => (
                <TagRow key={t.TagKey} keyId={keyId} tag={t} onRemoved={tags.reload} />
              ))}
            </tbody>
          </table>
        </div>
      ) : !tags.loading && tags.error === undefined ? (
        <p class="muted">This key has no tags.</p>
      ) : null}
      <form
        class="row"
        aria-label="Add tag"
        onSubmit={(e) => {
          e.preventDefault();
          void add.run();
        }}
      >
        <label>
          Tag key
          <input name="tagKey" value={tagKey} onInput={(e) => setTagKey(e.currentTarget.value)} />
        </label>
        <label>
          Tag value
          <input name="tagValue" value={tagValue} onInput={(e) => setTagValue(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={add.busy || tagKey.trim() === ''}>
          Add tag
        </button>
      </form>
      <ErrorNote error={add.error} />
    </section>
  );
}

function TagRow({ keyId, tag, onRemoved }: { keyId: string; tag: Tag; onRemoved: () => void }) {
  const { kms } = useConsole();
  const remove = useAction(async () => {
    await kms.send(new UntagResourceCommand({ KeyId: keyId, TagKeys: [tag.TagKey!] }));
    onRemoved();
  });
  return (
    <tr data-tag-key={tag.TagKey}>
      <td class="mono">{tag.TagKey}</td>
      <td class="mono">{tag.TagValue}</td>
      <td>
        <button type="button" aria-label={`Remove tag ${tag.TagKey}`} disabled={remove.busy} onClick={() => void remove.run()}>
          Remove
        </button>
        <ErrorNote error={remove.error} />
      </td>
    </tr>
  );
}
