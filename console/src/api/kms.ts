// The AWS SDK for JavaScript's KMS client, pointed at the keybridge that served this page: every
// call is signed here with the caller's own key, so the console can do exactly what the caller
// may, and every action is in the audit trail under the caller's name.

import { KMSClient } from '@aws-sdk/client-kms';

import type { Session } from './session.js';

export function kmsClientFor(session: Session): KMSClient {
  return new KMSClient({
    region: session.region,
    endpoint: window.location.origin,
    credentials: session.credentials,
    // One retry for a throttled or dropped call; a person is waiting for the answer.
    maxAttempts: 2,
  });
}
