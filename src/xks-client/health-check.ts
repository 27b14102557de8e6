// GetHealthStatus as AWS KMS uses it when it creates, updates or connects an external key store:
// the proxy must answer, and at least one of its external key managers must be able to serve.

import { randomUUID } from 'node:crypto';
import { XksProxyError, type XksHealth, type XksProxyClient } from './proxy-client.js';

/** Resolves the health answer; throws XksProxyError (NOT_REACHABLE when every EKM is UNAVAILABLE). */
export async function checkProxyHealth(client: XksProxyClient, kmsOperation: string): Promise<XksHealth> {
  const health = await client.health({ kmsRequestId: randomUUID(), kmsOperation });
  if (health.ekmFleetDetails.every((ekm) => ekm.healthStatus === 'UNAVAILABLE')) {
    throw new XksProxyError('NOT_REACHABLE', 'the external key store proxy reports every external key manager UNAVAILABLE');
  }
  return health;
}
