// CreateCustomKeyStore and UpdateCustomKeyStore for CustomKeyStoreType EXTERNAL_KEY_STORE (issue
// #15 face 2): keybridge as the XKS client, as AWS KMS is one. The proxy configuration is checked
// for shape, for uniqueness (one store per endpoint and path), and against the proxy itself with
// GetHealthStatus, as AWS KMS does for public-endpoint stores, before anything is saved.

import { KmsError } from '../domain/errors.js';
import type { CustomKeyStoreRecord, XksProxyConfiguration } from '../domain/custom-key-store.js';
import { checkProxyHealth } from '../xks-client/health-check.js';
import { storeSetupFailure } from '../xks-client/kms-answers.js';
import { checkRawSecret } from './custom-key-store-wire.js';
import type { OperationDeps } from './operation.js';

/** The XksProxy* members of Create/UpdateCustomKeyStore as the wire schema gives them. */
export interface XksProxyMembers {
  readonly XksProxyUriEndpoint?: string | undefined;
  readonly XksProxyUriPath?: string | undefined;
  readonly XksProxyVpcEndpointServiceName?: string | undefined;
  readonly XksProxyVpcEndpointServiceOwner?: string | undefined;
  readonly XksProxyAuthenticationCredential?: { readonly AccessKeyId: string; readonly RawSecretAccessKey: string } | undefined;
  readonly XksProxyConnectivity?: 'PUBLIC_ENDPOINT' | 'VPC_ENDPOINT_SERVICE' | undefined;
}

function missing(member: string): KmsError {
  return new KmsError(
    'ValidationException',
    `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null for an EXTERNAL_KEY_STORE key store`,
  );
}

/**
 * VPC endpoint service connectivity is AWS PrivateLink in the caller's AWS account; keybridge
 * reaches proxies over its own network, so a store must use PUBLIC_ENDPOINT (which, for keybridge,
 * means "the address as resolved where keybridge runs", private networks included).
 */
export function checkConnectivity(input: XksProxyMembers, connectivity: 'PUBLIC_ENDPOINT' | 'VPC_ENDPOINT_SERVICE'): void {
  if (connectivity === 'VPC_ENDPOINT_SERVICE') {
    if (input.XksProxyVpcEndpointServiceName === undefined) throw missing('xksProxyVpcEndpointServiceName');
    throw new KmsError(
      'UnsupportedOperationException',
      'keybridge reaches external key store proxies directly, not through an Amazon VPC endpoint service: use XksProxyConnectivity PUBLIC_ENDPOINT with the proxy\'s address as keybridge resolves it.',
    );
  }
  if (input.XksProxyVpcEndpointServiceName !== undefined || input.XksProxyVpcEndpointServiceOwner !== undefined) {
    throw new KmsError('ValidationException', 'XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only with XksProxyConnectivity VPC_ENDPOINT_SERVICE.');
  }
}

/** The configuration and secret of a new external key store, or the errors AWS KMS gives. */
export function newProxyConfiguration(input: XksProxyMembers): { proxy: XksProxyConfiguration; secret: string } {
  if (input.XksProxyConnectivity === undefined) throw missing('xksProxyConnectivity');
  checkConnectivity(input, input.XksProxyConnectivity);
  if (input.XksProxyUriEndpoint === undefined) throw missing('xksProxyUriEndpoint');
  if (input.XksProxyUriPath === undefined) throw missing('xksProxyUriPath');
  if (input.XksProxyAuthenticationCredential === undefined) throw missing('xksProxyAuthenticationCredential');
  checkRawSecret(input.XksProxyAuthenticationCredential.RawSecretAccessKey);
  return {
    proxy: {
      connectivity: 'PUBLIC_ENDPOINT',
      uriEndpoint: input.XksProxyUriEndpoint,
      uriPath: input.XksProxyUriPath,
      accessKeyId: input.XksProxyAuthenticationCredential.AccessKeyId,
    },
    secret: input.XksProxyAuthenticationCredential.RawSecretAccessKey,
  };
}

/** XksProxyUriInUseException when another external key store uses the same endpoint and path. */
export async function checkUriNotInUse(deps: OperationDeps, proxy: XksProxyConfiguration, exceptId?: string): Promise<void> {
  let after: string | undefined;
  for (;;) {
    const page = await deps.store.listCustomKeyStores(after, 100);
    const taken = page.find(
      (s: CustomKeyStoreRecord) => s.id !== exceptId && s.xksProxy !== undefined && s.xksProxy.uriEndpoint === proxy.uriEndpoint && s.xksProxy.uriPath === proxy.uriPath,
    );
    if (taken !== undefined) {
      throw new KmsError('XksProxyUriInUseException', `The XKS proxy URI ${proxy.uriEndpoint}${proxy.uriPath} is already associated with custom key store ${taken.id}.`);
    }
    if (page.length < 100) return;
    after = page[page.length - 1]!.id;
  }
}

/** GetHealthStatus against the proxy with these settings; the Create/Update exceptions of AWS's table otherwise. */
export async function checkProxy(deps: OperationDeps, proxy: XksProxyConfiguration, secret: string, kmsOperation: string): Promise<void> {
  const client = deps.keyStores.xksClientFor(proxy, secret);
  try {
    await checkProxyHealth(client, kmsOperation);
  } catch (err) {
    deps.logger.warn({ err, uriEndpoint: proxy.uriEndpoint, uriPath: proxy.uriPath }, `${kmsOperation}: the external key store proxy check failed`);
    throw storeSetupFailure(err);
  } finally {
    client.close();
  }
}
