// What keybridge's KMS API answers when an external key store's proxy misbehaves, against a fake
// proxy in this process whose answers each test chooses (HTTPS with a certificate from a test CA
// keybridge trusts; its certificate can be swapped for an untrusted one). Every XKS
// ConnectionErrorCode a proxy can cause, the Create/Update exceptions, and AWS's messages for
// cryptographic calls (the XKS spec's "KMS Considerations" table).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, CreateKeyCommand, DescribeCustomKeyStoresCommand, DisconnectCustomKeyStoreCommand,
  EncryptCommand, UpdateCustomKeyStoreCommand, type KMSClient,
} from '@aws-sdk/client-kms';
import { freePort } from '../support/free-port.js';
import { sdkClient } from '../support/kms-client.js';
import { startServer, type TestServer } from '../support/server.js';
import { issueCertificate, type Pem } from '../support/test-ca.js';
import { until } from '../support/until.js';

const URI_PATH = '/fake/kms/xks/v1';
const CREDENTIAL = { AccessKeyId: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', RawSecretAccessKey: 'a'.repeat(43) };

type Mode =
  | { kind: 'ok'; ekm?: 'ACTIVE' | 'UNAVAILABLE' }
  | { kind: 'silent' }
  | { kind: 'garbage' }
  | { kind: 'error'; status: number; errorName: string }
  /** Healthy, but every key operation answers this error. */
  | { kind: 'crypto-error'; status: number; errorName: string };

let dir: string;
let trusted: Pem;
let untrusted: Pem;
let fake: Server;
let mode: Mode = { kind: 'ok' };
let a: TestServer;
let kms: KMSClient;
let storeId: string;

function send(res: import('node:http').ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function healthBody(ekm: 'ACTIVE' | 'UNAVAILABLE'): unknown {
  return { xksProxyFleetSize: 1, xksProxyVendor: 'fake', xksProxyModel: 'fake 1', ekmVendor: 'fake', ekmFleetDetails: [{ id: 'hsm-1', model: 'fake', healthStatus: ekm }] };
}

async function state(): Promise<{ state: string | undefined; code: string | undefined }> {
  const entry = (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0];
  return { state: entry?.ConnectionState, code: entry?.ConnectionErrorCode };
}

/** Connects with the fake in `next` mode, waits for CONNECTED or FAILED, and returns the outcome. */
async function connectWith(next: Mode): Promise<{ state: string | undefined; code: string | undefined }> {
  if ((await state()).state !== 'DISCONNECTED') {
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await until(async () => (await state()).state === 'DISCONNECTED', 10_000, 'DISCONNECTED', 20);
  }
  mode = next;
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  let last = await state();
  await until(async () => ['CONNECTED', 'FAILED'].includes((last = await state()).state ?? ''), 10_000, 'CONNECTED or FAILED', 20);
  return last;
}

async function rejectsWith(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.equal(err.name, name, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keybridge-xks-fake-'));
  const ca = issueCertificate(dir, 'ca', 'fake proxy CA');
  trusted = issueCertificate(dir, 'trusted', 'localhost', ca, 'DNS:localhost');
  untrusted = issueCertificate(dir, 'untrusted', 'localhost');
  fake = createServer({ cert: readFileSync(trusted.cert), key: readFileSync(trusted.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isHealth = req.url?.endsWith('/health') === true;
      switch (mode.kind) {
        case 'silent':
          return; // never answers
        case 'garbage':
          return send(res, 200, '<html>proxy maintenance</html>', 'text/html');
        case 'error':
          return send(res, mode.status, { errorName: mode.errorName, errorMessage: 'fake failure' });
        case 'crypto-error':
          if (!isHealth && !req.url!.endsWith('/metadata')) return send(res, mode.status, { errorName: mode.errorName });
          break;
        case 'ok':
          break;
      }
      if (isHealth) return send(res, 200, healthBody(mode.kind === 'ok' ? (mode.ekm ?? 'ACTIVE') : 'ACTIVE'));
      if (req.url!.endsWith('/metadata')) return send(res, 200, { keySpec: 'AES_256', keyUsage: ['ENCRYPT', 'DECRYPT'], keyStatus: 'ENABLED' });
      return send(res, 501, { errorName: 'UnsupportedOperationException' });
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => fake.listen(port, '127.0.0.1', resolve));
  a = await startServer({ settings: { externalKeyStores: { proxyPort: port, proxyTimeoutMs: 400, trustedCaFile: join(dir, 'ca.pem') } } });
  kms = sdkClient(a);
  storeId = (
    await kms.send(
      new CreateCustomKeyStoreCommand({
        CustomKeyStoreName: 'fake', CustomKeyStoreType: 'EXTERNAL_KEY_STORE', XksProxyConnectivity: 'PUBLIC_ENDPOINT',
        XksProxyUriEndpoint: 'https://localhost', XksProxyUriPath: URI_PATH, XksProxyAuthenticationCredential: CREDENTIAL,
      }),
    )
  ).CustomKeyStoreId!;
});

after(async () => {
  fake?.closeAllConnections();
  await new Promise((resolve) => fake?.close(resolve));
  kms?.destroy();
  await a?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ConnectionErrorCode of a failed connect, from what the proxy answers', () => {
  const cases: Array<[string, Mode, string]> = [
    ['no answer within the deadline', { kind: 'silent' }, 'XKS_PROXY_TIMED_OUT'],
    ['a 200 that is not the spec\'s JSON', { kind: 'garbage' }, 'XKS_PROXY_INVALID_RESPONSE'],
    ['AuthenticationFailedException', { kind: 'error', status: 401, errorName: 'AuthenticationFailedException' }, 'INVALID_CREDENTIALS'],
    ['AccessDeniedException', { kind: 'error', status: 403, errorName: 'AccessDeniedException' }, 'XKS_PROXY_ACCESS_DENIED'],
    ['InvalidUriPathException', { kind: 'error', status: 404, errorName: 'InvalidUriPathException' }, 'XKS_PROXY_INVALID_CONFIGURATION'],
    ['InternalException (its key manager failing)', { kind: 'error', status: 500, errorName: 'InternalException' }, 'XKS_PROXY_NOT_REACHABLE'],
    ['every external key manager UNAVAILABLE', { kind: 'ok', ekm: 'UNAVAILABLE' }, 'XKS_PROXY_NOT_REACHABLE'],
    ['an error name the spec does not define', { kind: 'error', status: 400, errorName: 'SomethingElseException' }, 'XKS_PROXY_INVALID_RESPONSE'],
  ];
  for (const [what, next, code] of cases) {
    test(`${what} → FAILED ${code}`, async () => {
      assert.deepEqual(await connectWith(next), { state: 'FAILED', code });
    });
  }

  test('a certificate keybridge does not trust → FAILED XKS_PROXY_INVALID_TLS_CONFIGURATION; the trusted one connects', async () => {
    fake.setSecureContext({ cert: readFileSync(untrusted.cert), key: readFileSync(untrusted.key) });
    try {
      assert.deepEqual(await connectWith({ kind: 'ok' }), { state: 'FAILED', code: 'XKS_PROXY_INVALID_TLS_CONFIGURATION' });
    } finally {
      fake.setSecureContext({ cert: readFileSync(trusted.cert), key: readFileSync(trusted.key) });
    }
    assert.deepEqual(await connectWith({ kind: 'ok' }), { state: 'CONNECTED', code: undefined });
  });
});

describe('UpdateCustomKeyStore checks the proxy before saving', () => {
  test("each failure gets AWS's Create/Update exception, and nothing changes", async () => {
    await kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await until(async () => (await state()).state === 'DISCONNECTED', 10_000, 'DISCONNECTED', 20);
    const update = () => kms.send(new UpdateCustomKeyStoreCommand({ CustomKeyStoreId: storeId, XksProxyUriPath: '/moved/kms/xks/v1' }));
    const expectations: Array<[Mode, string]> = [
      [{ kind: 'silent' }, 'XksProxyUriUnreachableException'],
      [{ kind: 'garbage' }, 'XksProxyInvalidResponseException'],
      [{ kind: 'error', status: 401, errorName: 'AuthenticationFailedException' }, 'XksProxyIncorrectAuthenticationCredentialException'],
      [{ kind: 'error', status: 404, errorName: 'InvalidUriPathException' }, 'XksProxyInvalidConfigurationException'],
      [{ kind: 'error', status: 429, errorName: 'ThrottlingException' }, 'XksProxyUriUnreachableException'],
      [{ kind: 'error', status: 500, errorName: 'InternalException' }, 'XksProxyInvalidResponseException'],
    ];
    for (const [next, name] of expectations) {
      mode = next;
      await rejectsWith(update(), name);
    }
    const entry = (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores![0]!;
    assert.equal(entry.XksProxyConfiguration?.UriPath, URI_PATH);
  });
});

describe("cryptographic calls: KMSInvalidStateException with AWS's message for each proxy failure", () => {
  let keyId: string;

  before(async () => {
    assert.deepEqual(await connectWith({ kind: 'ok' }), { state: 'CONNECTED', code: undefined });
    keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'fake-key' }))).KeyMetadata!.KeyId!;
  });

  const cases: Array<[string, number, RegExp]> = [
    ['ThrottlingException', 429, /very high request rate/],
    ['DependencyTimeoutException', 503, /did not respond to the request in the time allotted/],
    ['InternalException', 500, /cannot communicate with the external key manager/],
    ['KeyNotFoundException', 404, /was not found in its external key manager/],
    ['InvalidKeyUsageException', 400, /does not support the requested operation/],
    ['AccessDeniedException', 403, /denied access to the operation/],
    ['UnsupportedOperationException', 501, /does not support the requested operation/],
  ];
  for (const [errorName, status, message] of cases) {
    test(`Encrypt when the proxy answers ${errorName}`, async () => {
      mode = { kind: 'crypto-error', status, errorName };
      await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', message);
    });
  }

  test('Encrypt when the proxy does not answer in time, and when it answers garbage', async () => {
    mode = { kind: 'silent' };
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /did not respond in time/);
    mode = { kind: 'garbage' };
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /cannot interpret the response/);
  });

  test('CreateKey: an external key the proxy does not find, and a proxy that refuses the credential', async () => {
    mode = { kind: 'error', status: 404, errorName: 'KeyNotFoundException' };
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'other' })), 'XksKeyNotFoundException');
    mode = { kind: 'error', status: 401, errorName: 'AuthenticationFailedException' };
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId: storeId, XksKeyId: 'other' })), 'CustomKeyStoreInvalidStateException', /could not authenticate/);
    mode = { kind: 'ok' };
  });
});
