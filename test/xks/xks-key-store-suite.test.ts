// The XKS API is AES-GCM only: an XKS key cannot live in a key store whose symmetric keys use the
// CBC-HMAC suite (an HSM without AES-GCM, or a store configured so), and creating one says why.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type TestServer } from '../support/server.js';
import { xksAdmin } from '../support/xks-client.js';

let server: TestServer;

before(async () => {
  server = await startServer({ settings: { defaultKeyStoreSymmetricSuite: 'AES_256_CBC_HMAC_SHA_256' } });
});

after(async () => {
  await server?.destroy();
});

test('CreateXksKey in a CBC-HMAC default key store is refused, and nothing is created', async () => {
  const res = await xksAdmin(server, 'CreateXksKey', { UriPath: '/kms/xks/v1', XksKeyId: 'gcm-needed' });
  assert.equal(res.status, 400, res.body);
  assert.equal(res.json.__type, 'UnsupportedOperationException');
  assert.match(res.json.message, /AES-GCM.*default key store.*AES_256_CBC_HMAC_SHA_256/);
  const listed = await xksAdmin(server, 'ListXksKeys', {});
  assert.deepEqual(listed.json.XksKeys, []);
});
