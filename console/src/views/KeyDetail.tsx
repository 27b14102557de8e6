// One key, as AWS's console shows it: configuration and state, aliases, tags, key policy, grants,
// rotation and public key. Each section loads and fails on its own, so a caller who may describe
// the key but not, say, read its policy sees that one AccessDeniedException and the rest works.

import { type AliasListEntry, DescribeKeyCommand, ListAliasesCommand } from '@aws-sdk/client-kms';

import { ErrorNote } from '../components/ErrorNote.js';
import { useLoad } from '../components/hooks.js';
import { useConsole } from '../context.js';
import { Aliases } from './key-detail/Aliases.js';
import { allPages } from './key-detail/format.js';
import { Grants } from './key-detail/Grants.js';
import { Metadata } from './key-detail/Metadata.js';
import { PolicyEditor } from './key-detail/PolicyEditor.js';
import { PublicKey } from './key-detail/PublicKey.js';
import { Rotation } from './key-detail/Rotation.js';
import { Tags } from './key-detail/Tags.js';
import './key-detail/key-detail.css';

export function KeyDetail({ keyId }: { keyId: string }) {
  // Going from one key to another (a hash change) starts every section afresh: no open form, no
  // confirmation and no data of the previous key is carried over.
  return <KeyPage key={keyId} keyId={keyId} />;
}

function KeyPage({ keyId }: { keyId: string }) {
  const { kms } = useConsole();
  const described = useLoad(async () => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata, [keyId]);
  const aliases = useLoad(
    () =>
      allPages<AliasListEntry>(async (marker) => {
        const page = await kms.send(new ListAliasesCommand({ KeyId: keyId, Limit: 100, ...(marker ? { Marker: marker } : {}) }));
        return { items: page.Aliases, truncated: page.Truncated, next: page.NextMarker };
      }),
    [keyId],
  );
  const metadata = described.data;
  const title = aliases.data?.[0]?.AliasName ?? metadata?.KeyId ?? keyId;
  // Public keys exist for asymmetric keys only: not symmetric, not HMAC.
  const asymmetric = metadata?.KeySpec !== undefined && metadata.KeySpec !== 'SYMMETRIC_DEFAULT' && !metadata.KeySpec.startsWith('HMAC_');

  return (
    <section class="key-detail" data-testid="key-detail">
      <a href="#/keys" class="back" data-testid="back-to-keys">
        ← Keys
      </a>
      <h1>{title}</h1>
      <section class="card" aria-labelledby="config-heading" data-testid="key-configuration">
        <div class="heading">
          <h2 id="config-heading">General configuration</h2>
          <button type="button" onClick={described.reload} disabled={described.loading}>
            Refresh
          </button>
        </div>
        <ErrorNote error={described.error} />
        {metadata !== undefined ? <Metadata metadata={metadata} onChanged={described.reload} /> : described.loading ? <p class="muted">Loading…</p> : null}
      </section>
      <Aliases keyId={keyId} aliases={aliases} />
      <PolicyEditor keyId={keyId} keyArn={metadata?.Arn} />
      <Grants keyId={keyId} metadata={metadata} />
      {metadata !== undefined ? <Rotation metadata={metadata} /> : null}
      {asymmetric ? <PublicKey keyId={keyId} /> : null}
      <Tags keyId={keyId} />
    </section>
  );
}
