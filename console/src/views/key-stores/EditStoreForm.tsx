// UpdateCustomKeyStore: only what the person changed is sent. AWS refuses most changes while the
// store is connected (CustomKeyStoreInvalidStateException); the form sends anyway and shows the
// answer, so the rule stays the server's.

import { UpdateCustomKeyStoreCommand, type UpdateCustomKeyStoreRequest } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import type { Store } from './stores.js';

export function EditStoreForm({ store, onSaved, onCancel }: { store: Store; onSaved: () => void; onCancel: () => void }) {
  const { kms } = useConsole();
  const xks = store.CustomKeyStoreType === 'EXTERNAL_KEY_STORE';
  const proxy = store.XksProxyConfiguration;
  const [name, setName] = useState(store.CustomKeyStoreName ?? '');
  const [password, setPassword] = useState('');
  const [clusterId, setClusterId] = useState(store.CloudHsmClusterId ?? '');
  const [endpoint, setEndpoint] = useState(proxy?.UriEndpoint ?? '');
  const [path, setPath] = useState(proxy?.UriPath ?? '');
  const [connectivity, setConnectivity] = useState(proxy?.Connectivity ?? 'PUBLIC_ENDPOINT');
  const [vpcService, setVpcService] = useState(proxy?.VpcEndpointServiceName ?? '');
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secret, setSecret] = useState('');

  const changes = (): UpdateCustomKeyStoreRequest => {
    const input: UpdateCustomKeyStoreRequest = { CustomKeyStoreId: store.CustomKeyStoreId! };
    if (name !== (store.CustomKeyStoreName ?? '')) input.NewCustomKeyStoreName = name;
    if (!xks) {
      if (password !== '') input.KeyStorePassword = password;
      if (clusterId.trim() !== (store.CloudHsmClusterId ?? '')) input.CloudHsmClusterId = clusterId.trim();
      return input;
    }
    if (endpoint.trim() !== (proxy?.UriEndpoint ?? '')) input.XksProxyUriEndpoint = endpoint.trim();
    if (path.trim() !== (proxy?.UriPath ?? '')) input.XksProxyUriPath = path.trim();
    if (connectivity !== (proxy?.Connectivity ?? 'PUBLIC_ENDPOINT')) input.XksProxyConnectivity = connectivity;
    if (connectivity === 'VPC_ENDPOINT_SERVICE' && vpcService.trim() !== (proxy?.VpcEndpointServiceName ?? '')) input.XksProxyVpcEndpointServiceName = vpcService.trim();
    // A credential is replaced whole: either half alone goes to the server, which says what is missing.
    if (accessKeyId.trim() !== '' || secret !== '') input.XksProxyAuthenticationCredential = { AccessKeyId: accessKeyId.trim(), RawSecretAccessKey: secret };
    return input;
  };

  const save = useAction(async () => {
    await kms.send(new UpdateCustomKeyStoreCommand(changes()));
    onSaved();
  });

  return (
    <form
      class="card edit-store"
      aria-label={`Edit key store ${store.CustomKeyStoreName ?? ''}`}
      data-testid="edit-store-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <p class="muted">Only changed fields are sent. Most changes need the key store to be disconnected first.</p>
      <label>
        New key store name
        <input name="newCustomKeyStoreName" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      {xks ? (
        <>
          <div class="row">
            <label>
              Proxy URI endpoint
              <input name="xksProxyUriEndpoint" class="mono" value={endpoint} onInput={(e) => setEndpoint(e.currentTarget.value)} />
            </label>
            <label>
              Proxy URI path
              <input name="xksProxyUriPath" class="mono" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
            </label>
          </div>
          <div class="row">
            <label>
              Proxy connectivity
              <select name="xksProxyConnectivity" value={connectivity} onChange={(e) => setConnectivity(e.currentTarget.value as typeof connectivity)}>
                <option value="PUBLIC_ENDPOINT">Public endpoint</option>
                <option value="VPC_ENDPOINT_SERVICE">VPC endpoint service</option>
              </select>
            </label>
            {connectivity === 'VPC_ENDPOINT_SERVICE' ? (
              <label>
                VPC endpoint service name
                <input name="xksProxyVpcEndpointServiceName" class="mono" value={vpcService} onInput={(e) => setVpcService(e.currentTarget.value)} />
              </label>
            ) : null}
          </div>
          <div class="row">
            <label>
              New proxy access key ID
              <input name="xksProxyAccessKeyId" class="mono" autocomplete="off" value={accessKeyId} onInput={(e) => setAccessKeyId(e.currentTarget.value)} />
            </label>
            <label>
              New proxy secret access key
              <input type="password" name="xksProxySecretAccessKey" autocomplete="off" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} />
            </label>
          </div>
        </>
      ) : (
        <div class="row">
          <label>
            New key store password
            <input type="password" name="keyStorePassword" autocomplete="off" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          <label>
            CloudHSM cluster ID
            <input name="cloudHsmClusterId" class="mono" value={clusterId} onInput={(e) => setClusterId(e.currentTarget.value)} />
          </label>
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={save.busy}>
          Save changes
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorNote error={save.error} />
    </form>
  );
}
