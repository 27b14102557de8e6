// Proxy clients for external key stores, as the configuration (`externalKeyStores`) shapes them.

import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { XksProxyConfiguration } from '../domain/custom-key-store.js';
import { XksProxyClient } from './proxy-client.js';

export function xksClientFactory(config: Readonly<Config>): (proxy: XksProxyConfiguration, secretAccessKey: string) => XksProxyClient {
  const settings = config.externalKeyStores;
  const ca = settings.trustedCaFile === undefined ? undefined : readFileSync(settings.trustedCaFile);
  return (proxy, secretAccessKey) => {
    // AWS's endpoint has no port: keybridge adds the configured one (443 unless a lab says otherwise).
    const endpoint = new URL(proxy.uriEndpoint);
    endpoint.port = settings.proxyPort === 443 ? '' : String(settings.proxyPort);
    return new XksProxyClient(
      { uriEndpoint: endpoint.origin, uriPath: proxy.uriPath, accessKeyId: proxy.accessKeyId, secretAccessKey, region: config.region },
      { timeoutMs: settings.proxyTimeoutMs, ...(ca === undefined ? {} : { ca }) },
    );
  };
}
