// The create form, as the AWS console has it: a CloudHSM key store (cluster, its trust anchor,
// the kmsuser password) or an external key store (the XKS proxy's endpoint, path, connectivity
// and the credential KMS signs its requests to the proxy with).

import { CreateCustomKeyStoreCommand, type CreateCustomKeyStoreRequest } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';

type StoreType = 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
type Connectivity = 'PUBLIC_ENDPOINT' | 'VPC_ENDPOINT_SERVICE';

export function CreateStoreForm({ onCreated, onCancel }: { onCreated: (id: string) => void; onCancel: () => void }) {
  const { kms } = useConsole();
  const [type, setType] = useState<StoreType>('AWS_CLOUDHSM');
  const [name, setName] = useState('');
  const [clusterId, setClusterId] = useState('');
  const [trustAnchor, setTrustAnchor] = useState('');
  const [password, setPassword] = useState('');
  const [endpoint, setEndpoint] = useState('https://');
  const [path, setPath] = useState('/kms/xks/v1');
  const [connectivity, setConnectivity] = useState<Connectivity>('PUBLIC_ENDPOINT');
  const [vpcService, setVpcService] = useState('');
  const [vpcOwner, setVpcOwner] = useState('');
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secret, setSecret] = useState('');

  const create = useAction(async () => {
    const input: CreateCustomKeyStoreRequest =
      type === 'AWS_CLOUDHSM'
        ? { CustomKeyStoreName: name, CustomKeyStoreType: type, CloudHsmClusterId: clusterId.trim(), TrustAnchorCertificate: trustAnchor, KeyStorePassword: password }
        : {
            CustomKeyStoreName: name,
            CustomKeyStoreType: type,
            XksProxyUriEndpoint: endpoint.trim(),
            XksProxyUriPath: path.trim(),
            XksProxyConnectivity: connectivity,
            ...(connectivity === 'VPC_ENDPOINT_SERVICE'
              ? { XksProxyVpcEndpointServiceName: vpcService.trim(), ...(vpcOwner.trim() === '' ? {} : { XksProxyVpcEndpointServiceOwner: vpcOwner.trim() }) }
              : {}),
            XksProxyAuthenticationCredential: { AccessKeyId: accessKeyId.trim(), RawSecretAccessKey: secret },
          };
    const created = await kms.send(new CreateCustomKeyStoreCommand(input));
    onCreated(created.CustomKeyStoreId ?? '');
  });

  return (
    <form
      class="card"
      aria-label="Create key store"
      data-testid="create-store-form"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <fieldset>
        <legend>Key store type</legend>
        <label class="check">
          <input type="radio" name="customKeyStoreType" value="AWS_CLOUDHSM" checked={type === 'AWS_CLOUDHSM'} onChange={() => setType('AWS_CLOUDHSM')} /> AWS CloudHSM key store
        </label>
        <label class="check">
          <input type="radio" name="customKeyStoreType" value="EXTERNAL_KEY_STORE" checked={type === 'EXTERNAL_KEY_STORE'} onChange={() => setType('EXTERNAL_KEY_STORE')} />{' '}
          External key store
        </label>
      </fieldset>
      <label>
        Key store name
        <input name="customKeyStoreName" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      {type === 'AWS_CLOUDHSM' ? (
        <>
          <label>
            CloudHSM cluster ID
            <input name="cloudHsmClusterId" class="mono" required placeholder="cluster-…" value={clusterId} onInput={(e) => setClusterId(e.currentTarget.value)} />
          </label>
          <label>
            Trust anchor certificate (PEM, the cluster's customerCA.crt)
            <textarea
              name="trustAnchorCertificate"
              class="code"
              rows={6}
              required
              placeholder="-----BEGIN CERTIFICATE-----"
              value={trustAnchor}
              onInput={(e) => setTrustAnchor(e.currentTarget.value)}
            />
          </label>
          <label>
            Password of the kmsuser crypto user
            <input type="password" name="keyStorePassword" autocomplete="off" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
        </>
      ) : (
        <>
          <div class="row">
            <label>
              Proxy URI endpoint
              <input name="xksProxyUriEndpoint" class="mono" required value={endpoint} onInput={(e) => setEndpoint(e.currentTarget.value)} />
            </label>
            <label>
              Proxy URI path
              <input name="xksProxyUriPath" class="mono" required value={path} onInput={(e) => setPath(e.currentTarget.value)} />
            </label>
          </div>
          <label>
            Proxy connectivity
            <select name="xksProxyConnectivity" value={connectivity} onChange={(e) => setConnectivity(e.currentTarget.value as Connectivity)}>
              <option value="PUBLIC_ENDPOINT">Public endpoint</option>
              <option value="VPC_ENDPOINT_SERVICE">VPC endpoint service</option>
            </select>
          </label>
          {connectivity === 'VPC_ENDPOINT_SERVICE' ? (
            <div class="row">
              <label>
                VPC endpoint service name
                <input name="xksProxyVpcEndpointServiceName" class="mono" required value={vpcService} onInput={(e) => setVpcService(e.currentTarget.value)} />
              </label>
              <label>
                VPC endpoint service owner (optional)
                <input name="xksProxyVpcEndpointServiceOwner" class="mono" value={vpcOwner} onInput={(e) => setVpcOwner(e.currentTarget.value)} />
              </label>
            </div>
          ) : null}
          <div class="row">
            <label>
              Proxy credential: access key ID
              <input name="xksProxyAccessKeyId" class="mono" autocomplete="off" required value={accessKeyId} onInput={(e) => setAccessKeyId(e.currentTarget.value)} />
            </label>
            <label>
              Proxy credential: secret access key
              <input type="password" name="xksProxySecretAccessKey" autocomplete="off" required value={secret} onInput={(e) => setSecret(e.currentTarget.value)} />
            </label>
          </div>
        </>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={create.busy}>
          Create key store
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorNote error={create.error} />
    </form>
  );
}
