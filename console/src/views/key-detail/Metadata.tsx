// The key's configuration as DescribeKey reports it, and the state actions (enable, disable,
// schedule or cancel deletion).

import type { KeyMetadata } from '@aws-sdk/client-kms';
import type { ComponentChild } from 'preact';

import { KeyStateActions } from '../../components/KeyStateActions.js';
import { formatDate } from './format.js';

function list(values: readonly string[] | undefined) {
  return values === undefined || values.length === 0 ? null : values.join(', ');
}

export function Metadata({ metadata, onChanged }: { metadata: KeyMetadata; onChanged: () => void }) {
  const rows: Array<[string, ComponentChild]> = [
    ['Key ID', <span class="mono">{metadata.KeyId}</span>],
    ['ARN', <span class="mono">{metadata.Arn}</span>],
    ['State', <span class={`state state-${metadata.KeyState}`} data-testid="key-state">{metadata.KeyState}</span>],
    ['Description', metadata.Description === undefined || metadata.Description === '' ? <span class="muted">—</span> : metadata.Description],
    ['Created', formatDate(metadata.CreationDate)],
    ['Key spec', metadata.KeySpec],
    ['Key usage', metadata.KeyUsage],
    ['Origin', metadata.Origin],
    ['Custom key store', metadata.CustomKeyStoreId === undefined ? null : <span class="mono">{metadata.CustomKeyStoreId}</span>],
    ['CloudHSM cluster', metadata.CloudHsmClusterId === undefined ? null : <span class="mono">{metadata.CloudHsmClusterId}</span>],
    ['External key ID', metadata.XksKeyConfiguration?.Id === undefined ? null : <span class="mono">{metadata.XksKeyConfiguration.Id}</span>],
    ['Deletion date', metadata.DeletionDate === undefined ? null : formatDate(metadata.DeletionDate)],
    ['Key manager', metadata.KeyManager],
    ['Encryption algorithms', list(metadata.EncryptionAlgorithms)],
    ['Signing algorithms', list(metadata.SigningAlgorithms)],
    ['MAC algorithms', list(metadata.MacAlgorithms)],
    ['Key agreement algorithms', list(metadata.KeyAgreementAlgorithms)],
  ];
  return (
    <>
      <dl class="props" data-testid="key-metadata">
        {rows
          .filter(([, value]) => value !== null && value !== undefined)
          .map(([term, value]) => (
            <>
              <dt>{term}</dt>
              <dd>{value}</dd>
            </>
          ))}
      </dl>
      <KeyStateActions metadata={metadata} onChanged={onChanged} />
    </>
  );
}
