// keybridge's XKS proxy client (what AWS KMS does when it calls an external key store proxy),
// against keybridge's own proxy (plain HTTP on loopback, then HTTPS with a throw-away openssl CA)
// and against small local servers that misbehave on purpose: closed ports, silence, resets,
// answers that are not the spec's shape.

import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  XksProxyClient,
  XksProxyError,
  type RequestMetadata,
  type XksFailureKind,
  type XksProxyClientOptions,
  type XksProxyEndpoint,
} from '../../src/xks-client/proxy-client.js';
import { freePort } from '../support/free-port.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';
import { issueCertificate } from '../support/test-ca.js';
import { createXksCredential, createXksKey, setXksKeyEnabled, xksProxySettings, type XksCredential } from '../support/xks-client.js';

const URI_PATH = '/client/kms/xks/v1';
const TLS_URI_PATH = '/client-tls/kms/xks/v1';
const PRINCIPAL = 'arn:aws:iam::123456789012:user/Alice';
const KMS_KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
/** Generous for keybridge's own proxy (its first HSM calls); the misbehaving servers test the deadline. */
const SLOW_OK_MS = 5_000;

const dataDir = makeDataDir();
const certDir = makeDataDir();
const ca = issueCertificate(certDir, 'ca', 'keybridge client test CA');
const serverCert = issueCertificate(certDir, 'server', 'localhost', ca, 'DNS:localhost,IP:127.0.0.1');
const wrongNameCert = issueCertificate(certDir, 'wrong-name', 'wrong.example', ca, 'DNS:wrong.example');
const otherCa = issueCertificate(certDir, 'other-ca', 'another CA');
const caPem = readFileSync(ca.cert);

after(() => {
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(certDir, { recursive: true, force: true });
});

function md(kmsOperation: string): RequestMetadata {
  return { kmsRequestId: randomUUID(), kmsOperation, awsPrincipalArn: PRINCIPAL, kmsKeyArn: KMS_KEY_ARN, kmsViaService: 'ebs' };
}

function endpointOf(uriEndpoint: string, credential: XksCredential, uriPath = URI_PATH): XksProxyEndpoint {
  return { uriEndpoint, uriPath, accessKeyId: credential.accessKeyId, secretAccessKey: credential.secretAccessKey, region: 'us-east-1' };
}

/** Awaits a call that must fail, and checks what every failure must be: an XksProxyError telling no secret. */
async function failure(call: Promise<unknown>, kind: XksFailureKind, secrets: readonly string[] = []): Promise<XksProxyError> {
  let outcome: unknown;
  try {
    outcome = await call;
  } catch (err) {
    assert.ok(err instanceof XksProxyError, `not an XksProxyError: ${String(err)}`);
    assert.equal(err.kind, kind, `${err.kind}: ${err.message}`);
    for (const secret of secrets) assert.ok(!err.message.includes(secret), `the message tells a secret: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${kind}, the call succeeded: ${JSON.stringify(outcome)}`);
}

async function proxyError(call: Promise<unknown>, errorName: string, status: number, secrets: readonly string[] = []): Promise<XksProxyError> {
  const err = await failure(call, 'PROXY_ERROR', secrets);
  assert.equal(err.errorName, errorName, err.message);
  assert.equal(err.status, status, err.message);
  return err;
}

// ---- keybridge's own proxy over plain HTTP -------------------------------------------------------

describe("keybridge's XKS proxy over plain HTTP on loopback", () => {
  let server: TestServer;
  let credential: XksCredential;
  let keyId: string;
  let client: XksProxyClient;
  const options: XksProxyClientOptions = { timeoutMs: SLOW_OK_MS, allowPlainHttp: true };

  before(async () => {
    server = await startServer({ dataDir, settings: xksProxySettings() });
    credential = await createXksCredential(server, URI_PATH);
    keyId = (await createXksKey(server, { UriPath: URI_PATH })).XksKeyId;
    client = new XksProxyClient(endpointOf(server.keybridge.xksProxyUrl!, credential), options);
  });
  after(async () => {
    client?.close();
    await server?.stop();
  });

  test('GetHealthStatus', async () => {
    const health = await client.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' });
    assert.equal(health.xksProxyFleetSize, 1);
    assert.equal(health.xksProxyVendor, 'keybridge');
    assert.equal(typeof health.xksProxyModel, 'string');
    assert.equal(typeof health.ekmVendor, 'string');
    assert.ok(health.ekmFleetDetails.length >= 1 && health.ekmFleetDetails.length <= 10);
    for (const ekm of health.ekmFleetDetails) assert.ok(['ACTIVE', 'DEGRADED', 'UNAVAILABLE'].includes(ekm.healthStatus));
  });

  test('GetKeyMetadata', async () => {
    const metadata = await client.getKeyMetadata(keyId, { kmsRequestId: randomUUID(), kmsOperation: 'CreateKey', awsPrincipalArn: PRINCIPAL });
    assert.deepEqual(metadata, { keySpec: 'AES_256', keyUsage: metadata.keyUsage, keyStatus: 'ENABLED' });
    assert.ok(metadata.keyUsage.includes('ENCRYPT') && metadata.keyUsage.includes('DECRYPT'), metadata.keyUsage.join());
  });

  test('Encrypt then Decrypt round-trips, with AAD and without', async () => {
    for (const aad of [randomBytes(40), undefined]) {
      const plaintext = randomBytes(4300);
      const sealed = await client.encrypt(keyId, { plaintext, ...(aad ? { aad } : {}), requestMetadata: md('Encrypt') });
      assert.equal(sealed.ciphertext.length, plaintext.length);
      assert.ok(sealed.iv.length === 12 || sealed.iv.length === 16);
      assert.equal(sealed.tag.length, 16);
      assert.ok(!sealed.ciphertext.equals(plaintext));
      const back = await client.decrypt(keyId, { ...sealed, ...(aad ? { aad } : {}), requestMetadata: md('Decrypt') });
      assert.ok(back.equals(plaintext));
    }
  });

  test('many calls at once share the keep-alive agent', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const plaintext = Buffer.from(`message ${i}`);
        const sealed = await client.encrypt(keyId, { plaintext, requestMetadata: md('Encrypt') });
        return (await client.decrypt(keyId, { ...sealed, requestMetadata: md('Decrypt') })).toString();
      }),
    );
    assert.deepEqual(results, Array.from({ length: 40 }, (_, i) => `message ${i}`));
  });

  test('a tampered tag, ciphertext or AAD: InvalidCiphertextException', async () => {
    const plaintext = randomBytes(32);
    const aad = Buffer.from('context');
    const sealed = await client.encrypt(keyId, { plaintext, aad, requestMetadata: md('Encrypt') });
    const tag = Buffer.from(sealed.tag);
    tag[0]! ^= 1;
    const secrets = [plaintext.toString('base64'), credential.secretAccessKey];
    await proxyError(client.decrypt(keyId, { ...sealed, tag, aad, requestMetadata: md('Decrypt') }), 'InvalidCiphertextException', 400, secrets);
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[5]! ^= 0x80;
    await proxyError(client.decrypt(keyId, { ...sealed, ciphertext, aad, requestMetadata: md('Decrypt') }), 'InvalidCiphertextException', 400, secrets);
    await proxyError(client.decrypt(keyId, { ...sealed, aad: Buffer.from('other'), requestMetadata: md('Decrypt') }), 'InvalidCiphertextException', 400, secrets);
  });

  test('a wrong secret: AuthenticationFailedException, and the message tells neither secret', async () => {
    const wrong = { accessKeyId: credential.accessKeyId, secretAccessKey: `${credential.secretAccessKey.slice(0, -4)}AAAA` };
    const other = new XksProxyClient(endpointOf(server.keybridge.xksProxyUrl!, wrong), options);
    try {
      const secrets = [credential.secretAccessKey, wrong.secretAccessKey];
      await proxyError(other.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' }), 'AuthenticationFailedException', 401, secrets);
      await proxyError(other.encrypt(keyId, { plaintext: Buffer.from('secret data'), requestMetadata: md('Encrypt') }), 'AuthenticationFailedException', 401, secrets);
    } finally {
      other.close();
    }
  });

  test('a wrong region in the signature: AuthenticationFailedException', async () => {
    const other = new XksProxyClient({ ...endpointOf(server.keybridge.xksProxyUrl!, credential), region: 'eu-west-3' }, options);
    try {
      await proxyError(other.getKeyMetadata(keyId, md('CreateKey')), 'AuthenticationFailedException', 401);
    } finally {
      other.close();
    }
  });

  test('an unknown external key: KeyNotFoundException', async () => {
    await proxyError(client.getKeyMetadata('no-such-key', md('CreateKey')), 'KeyNotFoundException', 404);
    await proxyError(client.encrypt('no-such-key', { plaintext: Buffer.from('x'), requestMetadata: md('Encrypt') }), 'KeyNotFoundException', 404);
  });

  test('a path prefix no credential serves, signed by a credential of this proxy: InvalidUriPathException', async () => {
    for (const uriPath of ['/elsewhere/kms/xks/v1', '/not/an/xks/path']) {
      const other = new XksProxyClient(endpointOf(server.keybridge.xksProxyUrl!, credential, uriPath), options);
      try {
        await proxyError(other.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' }), 'InvalidUriPathException', 404);
        await proxyError(other.getKeyMetadata(keyId, md('CreateKey')), 'InvalidUriPathException', 404);
      } finally {
        other.close();
      }
    }
  });

  test('a disabled external key: InvalidStateException, until it is enabled again', async () => {
    const plaintext = Buffer.from('before disable');
    const sealed = await client.encrypt(keyId, { plaintext, requestMetadata: md('Encrypt') });
    await setXksKeyEnabled(server, keyId, false);
    try {
      const metadata = await client.getKeyMetadata(keyId, md('DescribeKey'));
      assert.equal(metadata.keyStatus, 'DISABLED');
      await proxyError(client.encrypt(keyId, { plaintext, requestMetadata: md('Encrypt') }), 'InvalidStateException', 400);
      await proxyError(client.decrypt(keyId, { ...sealed, requestMetadata: md('Decrypt') }), 'InvalidStateException', 400);
    } finally {
      await setXksKeyEnabled(server, keyId, true);
    }
    assert.ok((await client.decrypt(keyId, { ...sealed, requestMetadata: md('Decrypt') })).equals(plaintext));
  });

  test('plain HTTP is refused unless allowed, and allowed only on loopback', async () => {
    const refused = new XksProxyClient(endpointOf(server.keybridge.xksProxyUrl!, credential), { timeoutMs: SLOW_OK_MS });
    await failure(refused.health({ kmsRequestId: 'x', kmsOperation: 'KmsHealthCheck' }), 'INVALID_TLS');
    refused.close();
    const remote = new XksProxyClient(endpointOf('http://xks.example.com', credential), { timeoutMs: SLOW_OK_MS, allowPlainHttp: true });
    await failure(remote.health({ kmsRequestId: 'x', kmsOperation: 'KmsHealthCheck' }), 'INVALID_TLS');
    remote.close();
  });

  test('a closed client makes no more calls', async () => {
    const other = new XksProxyClient(endpointOf(server.keybridge.xksProxyUrl!, credential), options);
    await other.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' });
    other.close();
    await failure(other.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' }), 'NOT_REACHABLE');
  });
});

// ---- keybridge's own proxy over HTTPS -------------------------------------------------------------

describe("keybridge's XKS proxy over HTTPS", () => {
  let server: TestServer;
  let credential: XksCredential;
  let keyId: string;
  let url: string;

  before(async () => {
    server = await startServer({
      dataDir,
      settings: { xksProxy: { enabled: true, host: '127.0.0.1', port: 0, tls: { certFile: serverCert.cert, keyFile: serverCert.key } } },
    });
    url = server.keybridge.xksProxyUrl!;
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    credential = await createXksCredential(server, TLS_URI_PATH);
    keyId = (await createXksKey(server, { UriPath: TLS_URI_PATH })).XksKeyId;
  });
  after(async () => {
    await server?.stop();
  });

  test('trusted through `ca`: health, metadata and an encrypt/decrypt round trip', async () => {
    const client = new XksProxyClient(endpointOf(url, credential, TLS_URI_PATH), { timeoutMs: SLOW_OK_MS, ca: caPem });
    try {
      assert.equal((await client.health({ kmsRequestId: randomUUID(), kmsOperation: 'ConnectCustomKeyStore' })).xksProxyVendor, 'keybridge');
      assert.equal((await client.getKeyMetadata(keyId, md('CreateKey'))).keySpec, 'AES_256');
      const plaintext = randomBytes(100);
      const aad = randomBytes(17);
      const sealed = await client.encrypt(keyId, { plaintext, aad, requestMetadata: md('Encrypt') });
      assert.ok((await client.decrypt(keyId, { ...sealed, aad, requestMetadata: md('Decrypt') })).equals(plaintext));
    } finally {
      client.close();
    }
  });

  test('the CA passed as a string works too', async () => {
    const client = new XksProxyClient(endpointOf(url, credential, TLS_URI_PATH), { timeoutMs: SLOW_OK_MS, ca: caPem.toString('utf8') });
    try {
      assert.equal((await client.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' })).xksProxyFleetSize, 1);
    } finally {
      client.close();
    }
  });

  test('a certificate from a CA that is not trusted: INVALID_TLS', async () => {
    for (const options of [{ timeoutMs: SLOW_OK_MS }, { timeoutMs: SLOW_OK_MS, ca: readFileSync(otherCa.cert) }]) {
      const client = new XksProxyClient(endpointOf(url, credential, TLS_URI_PATH), options);
      try {
        await failure(client.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' }), 'INVALID_TLS', [credential.secretAccessKey]);
      } finally {
        client.close();
      }
    }
  });

  test('plain HTTP to the TLS port is no XKS answer', async () => {
    const client = new XksProxyClient(endpointOf(url.replace('https:', 'http:'), credential, TLS_URI_PATH), { timeoutMs: SLOW_OK_MS, allowPlainHttp: true });
    try {
      const err = await client.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' }).then(
        () => assert.fail('plain HTTP to a TLS port succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof XksProxyError);
      assert.ok(['INVALID_RESPONSE', 'NOT_REACHABLE'].includes(err.kind), `${err.kind}: ${err.message}`);
    } finally {
      client.close();
    }
  });
});

// ---- servers that are not (good) XKS proxies ------------------------------------------------------

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: any;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: any) => void;

async function listen(server: HttpServer | NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: HttpServer | NetServer): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A correct Encrypt answer for the request `body`, made with a random AES-256-GCM key; `change` spoils it. */
function encryptAnswer(body: any, change: (answer: Record<string, string>, parts: { iv: Buffer; ciphertext: Buffer; tag: Buffer; aad: Buffer }) => void = () => {}, metadata?: Buffer): Record<string, string> {
  const plaintext = Buffer.from(body.plaintext, 'base64');
  const aad = body.additionalAuthenticatedData ? Buffer.from(body.additionalAuthenticatedData, 'base64') : Buffer.alloc(0);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const md = metadata ?? Buffer.alloc(0);
  const answer: Record<string, string> = {
    ciphertext: ciphertext.toString('base64'),
    initializationVector: iv.toString('base64'),
    authenticationTag: tag.toString('base64'),
    ...(metadata ? { ciphertextMetadata: metadata.toString('base64') } : {}),
    ciphertextDataIntegrityValue: createHash('sha256').update(Buffer.concat([aad, md, iv, ciphertext, tag])).digest('base64'),
  };
  change(answer, { iv, ciphertext, tag, aad });
  return answer;
}

const GOOD_HEALTH = {
  xksProxyFleetSize: 2,
  xksProxyVendor: 'Fake',
  xksProxyModel: 'Fake proxy',
  ekmVendor: 'Fake HSM',
  ekmFleetDetails: [{ id: 'hsm-1', model: 'Fake 1', healthStatus: 'ACTIVE' }],
};

describe('a proxy that misbehaves', () => {
  const fakeCredential = { accessKeyId: 'ABCDEFGHIJKLMNOPQRST', secretAccessKey: 'fakeSecretKeyfakeSecretKeyfakeSecretKey1234567' };
  const secrets = [fakeCredential.secretAccessKey];
  let handler: Handler = (_req, res) => json(res, 200, GOOD_HEALTH);
  let last: Seen | undefined;
  const fake = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      last = { method: req.method!, url: req.url!, headers: req.headers, body };
      handler(req, res, body);
    });
  });
  const silent: Socket[] = [];
  const mute = createNetServer((socket) => silent.push(socket));
  const resetting = createNetServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
  const wrongName = createHttpsServer({ cert: readFileSync(wrongNameCert.cert), key: readFileSync(wrongNameCert.key) }, (_req, res) => json(res, 200, GOOD_HEALTH));
  let fakeUrl: string;
  let mutePort: number;
  let resettingPort: number;
  let wrongNamePort: number;
  let client: XksProxyClient;

  before(async () => {
    fakeUrl = `http://127.0.0.1:${await listen(fake)}`;
    [mutePort, resettingPort, wrongNamePort] = await Promise.all([listen(mute), listen(resetting), listen(wrongName)]);
    client = new XksProxyClient(endpointOf(fakeUrl, fakeCredential), { timeoutMs: 2_000, allowPlainHttp: true });
  });
  after(async () => {
    client?.close();
    for (const s of silent) s.destroy();
    await Promise.all([closeServer(fake), closeServer(mute), closeServer(resetting), closeServer(wrongName)]);
  });

  const health = (c: XksProxyClient = client) => c.health({ kmsRequestId: randomUUID(), kmsOperation: 'KmsHealthCheck' });
  const encrypt = (plaintext = Buffer.from('the plaintext'), aad?: Buffer) => client.encrypt('key-1', { plaintext, ...(aad ? { aad } : {}), requestMetadata: md('Encrypt') });

  test('requests are what AWS KMS sends: POST, JSON, SigV4 kms-xks-proxy over host;x-amz-date', async () => {
    handler = (_req, res) => json(res, 200, GOOD_HEALTH);
    const answer = await health();
    assert.deepEqual(answer, GOOD_HEALTH);
    assert.equal(last!.method, 'POST');
    assert.equal(last!.url, `${URI_PATH}/health`);
    assert.equal(last!.headers['content-type'], 'application/json');
    assert.equal(last!.headers.host, new URL(fakeUrl).host);
    assert.match(
      String(last!.headers.authorization),
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${fakeCredential.accessKeyId}/\\d{8}/us-east-1/kms-xks-proxy/aws4_request, SignedHeaders=host;x-amz-date, Signature=[0-9a-f]{64}$`),
    );
    assert.match(String(last!.headers['x-amz-date']), /^\d{8}T\d{6}Z$/);
    assert.deepEqual(Object.keys(last!.body), ['requestMetadata']);
    assert.deepEqual(Object.keys(last!.body.requestMetadata).sort(), ['kmsOperation', 'kmsRequestId']);

    handler = (_req, res, body) => json(res, 200, encryptAnswer(body));
    const aad = Buffer.from('aad bytes');
    await encrypt(Buffer.from('hello'), aad);
    assert.equal(last!.url, `${URI_PATH}/keys/key-1/encrypt`);
    assert.equal(last!.body.plaintext, Buffer.from('hello').toString('base64'));
    assert.equal(last!.body.encryptionAlgorithm, 'AES_GCM');
    assert.equal(last!.body.additionalAuthenticatedData, aad.toString('base64'));
    assert.equal(last!.body.ciphertextDataIntegrityValueAlgorithm, 'SHA_256');
    assert.equal(last!.body.requestMetadata.kmsKeyArn, KMS_KEY_ARN);
    assert.equal(last!.body.requestMetadata.awsPrincipalArn, PRINCIPAL);
  });

  test('ciphertextMetadata is returned and covered by the CDIV', async () => {
    const metadata = Buffer.from('meta-v1');
    handler = (_req, res, body) => json(res, 200, encryptAnswer(body, () => {}, metadata));
    const sealed = await encrypt(Buffer.from('hello'), Buffer.from('aad'));
    assert.ok(sealed.ciphertextMetadata?.equals(metadata));
    handler = (_req, res, body) => json(res, 200, { plaintext: Buffer.alloc(Buffer.from(body.ciphertext, 'base64').length, 7).toString('base64') });
    await client.decrypt('key-1', { ...sealed, aad: Buffer.from('aad'), requestMetadata: md('Decrypt') });
    assert.equal(last!.body.ciphertextMetadata, metadata.toString('base64'));
    assert.equal(last!.body.initializationVector, sealed.iv.toString('base64'));
    assert.equal(last!.body.authenticationTag, sealed.tag.toString('base64'));
  });

  test('200 with {} or not JSON or not application/json: INVALID_RESPONSE', async () => {
    const answers: Handler[] = [
      (_req, res) => json(res, 200, {}),
      (_req, res) => json(res, 200, 'this is not json'),
      (_req, res) => json(res, 200, '[1,2]'),
      (_req, res) => json(res, 200, 'null'),
      (_req, res) => json(res, 200, GOOD_HEALTH, 'text/html'),
      (_req, res) => res.writeHead(200).end(JSON.stringify(GOOD_HEALTH)),
    ];
    for (const answer of answers) {
      handler = answer;
      const err = await failure(health(), 'INVALID_RESPONSE', secrets);
      assert.equal(err.status, 200);
    }
    handler = (_req, res) => json(res, 200, {});
    await failure(client.getKeyMetadata('key-1', md('CreateKey')), 'INVALID_RESPONSE', secrets);
    await failure(encrypt(), 'INVALID_RESPONSE', secrets);
    await failure(client.decrypt('key-1', { ciphertext: Buffer.alloc(4), iv: Buffer.alloc(12), tag: Buffer.alloc(16), requestMetadata: md('Decrypt') }), 'INVALID_RESPONSE');
  });

  test('health answers outside the spec: INVALID_RESPONSE', async () => {
    const bad: unknown[] = [
      { ...GOOD_HEALTH, xksProxyFleetSize: 0 },
      { ...GOOD_HEALTH, xksProxyFleetSize: 1.5 },
      { ...GOOD_HEALTH, xksProxyFleetSize: '1' },
      { ...GOOD_HEALTH, xksProxyVendor: undefined },
      { ...GOOD_HEALTH, ekmVendor: 7 },
      { ...GOOD_HEALTH, ekmFleetDetails: [] },
      { ...GOOD_HEALTH, ekmFleetDetails: Array.from({ length: 11 }, (_, i) => ({ id: `h${i}`, model: 'm', healthStatus: 'ACTIVE' })) },
      { ...GOOD_HEALTH, ekmFleetDetails: [{ id: 'h', model: 'm', healthStatus: 'OK' }] },
      { ...GOOD_HEALTH, ekmFleetDetails: [{ model: 'm', healthStatus: 'ACTIVE' }] },
      { ...GOOD_HEALTH, ekmFleetDetails: ['hsm'] },
    ];
    for (const body of bad) {
      handler = (_req, res) => json(res, 200, body);
      await failure(health(), 'INVALID_RESPONSE', secrets);
    }
    handler = (_req, res) => json(res, 200, { ...GOOD_HEALTH, ekmFleetDetails: Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, model: 'm', healthStatus: i ? 'DEGRADED' : 'UNAVAILABLE' })) });
    assert.equal((await health()).ekmFleetDetails.length, 10);
  });

  test('metadata answers outside the spec: INVALID_RESPONSE', async () => {
    const good = { keySpec: 'AES_256', keyUsage: ['ENCRYPT', 'DECRYPT'], keyStatus: 'ENABLED' };
    for (const body of [
      { ...good, keySpec: undefined },
      { ...good, keyUsage: 'ENCRYPT' },
      { ...good, keyUsage: ['ENCRYPT', 3] },
      { ...good, keyUsage: Array.from({ length: 11 }, () => 'ENCRYPT') },
      { ...good, keyStatus: null },
    ]) {
      handler = (_req, res) => json(res, 200, body);
      await failure(client.getKeyMetadata('key-1', md('CreateKey')), 'INVALID_RESPONSE', secrets);
    }
    handler = (_req, res) => json(res, 200, good);
    assert.deepEqual(await client.getKeyMetadata('key-1', md('CreateKey')), good);
  });

  test('an encrypt answer with a wrong CDIV or wrong lengths: INVALID_RESPONSE, never the plaintext in the message', async () => {
    const spoilers: Array<(a: Record<string, string>, p: { iv: Buffer; ciphertext: Buffer; tag: Buffer; aad: Buffer }) => void> = [
      (a) => (a.ciphertextDataIntegrityValue = createHash('sha256').update('something else').digest('base64')),
      (a) => delete a.ciphertextDataIntegrityValue,
      (a) => (a.ciphertextDataIntegrityValue = 'not base64!'),
      // The CDIV computed without the AAD.
      (a, p) => (a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.iv, p.ciphertext, p.tag])).digest('base64')),
      (a, p) => {
        const longer = Buffer.concat([p.ciphertext, Buffer.from([1])]);
        a.ciphertext = longer.toString('base64');
        a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.aad, p.iv, longer, p.tag])).digest('base64');
      },
      (a, p) => {
        const iv = p.iv.subarray(0, 8);
        a.initializationVector = iv.toString('base64');
        a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.aad, iv, p.ciphertext, p.tag])).digest('base64');
      },
      (a, p) => {
        const tag = p.tag.subarray(0, 12);
        a.authenticationTag = tag.toString('base64');
        a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.aad, p.iv, p.ciphertext, tag])).digest('base64');
      },
      (a, p) => {
        const metadata = randomBytes(21);
        a.ciphertextMetadata = metadata.toString('base64');
        a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.aad, metadata, p.iv, p.ciphertext, p.tag])).digest('base64');
      },
      (a) => (a.ciphertext = '%%%'),
      (a) => delete a.authenticationTag,
    ];
    const plaintext = Buffer.from('top secret plaintext 0123456789');
    for (const spoil of spoilers) {
      handler = (_req, res, body) => json(res, 200, encryptAnswer(body, spoil));
      await failure(encrypt(plaintext, Buffer.from('aad')), 'INVALID_RESPONSE', [...secrets, plaintext.toString('base64'), plaintext.toString()]);
    }
    // A 16-byte IV is allowed.
    handler = (_req, res, body) =>
      json(res, 200, encryptAnswer(body, (a, p) => {
        const iv = Buffer.concat([p.iv, Buffer.alloc(4)]);
        a.initializationVector = iv.toString('base64');
        a.ciphertextDataIntegrityValue = createHash('sha256').update(Buffer.concat([p.aad, iv, p.ciphertext, p.tag])).digest('base64');
      }));
    assert.equal((await encrypt(plaintext, Buffer.from('aad'))).iv.length, 16);
  });

  test('a decrypt answer of the wrong length: INVALID_RESPONSE', async () => {
    const sealed = { ciphertext: randomBytes(20), iv: randomBytes(12), tag: randomBytes(16) };
    handler = (_req, res) => json(res, 200, { plaintext: randomBytes(19).toString('base64') });
    await failure(client.decrypt('key-1', { ...sealed, requestMetadata: md('Decrypt') }), 'INVALID_RESPONSE', secrets);
    handler = (_req, res) => json(res, 200, { plaintext: 12 });
    await failure(client.decrypt('key-1', { ...sealed, requestMetadata: md('Decrypt') }), 'INVALID_RESPONSE', secrets);
    const plaintext = randomBytes(20);
    handler = (_req, res) => json(res, 200, { plaintext: plaintext.toString('base64') });
    assert.ok((await client.decrypt('key-1', { ...sealed, requestMetadata: md('Decrypt') })).equals(plaintext));
  });

  test('statuses: a spec error is PROXY_ERROR with its name; anything else INVALID_RESPONSE', async () => {
    handler = (_req, res) => json(res, 429, { errorName: 'ThrottlingException', errorMessage: 'slow down' });
    const throttled = await proxyError(health(), 'ThrottlingException', 429, secrets);
    assert.equal(throttled.errorMessage, 'slow down');
    handler = (_req, res) => json(res, 503, { errorName: 'DependencyTimeoutException' });
    await proxyError(encrypt(), 'DependencyTimeoutException', 503, secrets);

    const invalid: Array<[number, unknown, string?]> = [
      [400, { errorName: 'NoSuchThingException' }],
      [400, { errorName: 'toString' }],
      [400, { errorMessage: 'no name' }],
      [500, '<html>oops</html>', 'text/html'],
      [502, ''],
      [201, GOOD_HEALTH],
      [204, ''],
      [302, ''],
    ];
    for (const [status, body, type] of invalid) {
      handler = (_req, res) => (status === 204 ? res.writeHead(204).end() : json(res, status, body, type));
      const err = await failure(health(), 'INVALID_RESPONSE', secrets);
      assert.equal(err.status, status, err.message);
    }
  });

  test('an answer over 1 MiB: INVALID_RESPONSE, with or without Content-Length', async () => {
    const big = JSON.stringify({ ...GOOD_HEALTH, padding: 'x'.repeat(1024 * 1024) });
    handler = (_req, res) => json(res, 200, big);
    await failure(health(), 'INVALID_RESPONSE', secrets);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big);
    };
    await failure(health(), 'INVALID_RESPONSE', secrets);
    handler = (_req, res) => json(res, 200, GOOD_HEALTH);
    assert.equal((await health()).xksProxyFleetSize, 2);
  });

  test('a closed port: NOT_REACHABLE', async () => {
    const port = await freePort();
    const c = new XksProxyClient(endpointOf(`http://127.0.0.1:${port}`, fakeCredential), { timeoutMs: 2_000, allowPlainHttp: true });
    try {
      const err = await failure(health(c), 'NOT_REACHABLE', secrets);
      assert.equal(err.status, undefined);
    } finally {
      c.close();
    }
  });

  test('a connection reset before any answer: NOT_REACHABLE', async () => {
    const c = new XksProxyClient(endpointOf(`http://127.0.0.1:${resettingPort}`, fakeCredential), { timeoutMs: 2_000, allowPlainHttp: true });
    try {
      await failure(health(c), 'NOT_REACHABLE', secrets);
    } finally {
      c.close();
    }
  });

  test('a server that accepts and never answers: TIMED_OUT within timeoutMs', async () => {
    const c = new XksProxyClient(endpointOf(`http://127.0.0.1:${mutePort}`, fakeCredential), { timeoutMs: 200, allowPlainHttp: true });
    try {
      const started = Date.now();
      await failure(health(c), 'TIMED_OUT', secrets);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 180 && elapsed < 1_000, `took ${elapsed} ms`);
    } finally {
      c.close();
    }
  });

  test('a TLS handshake that never completes: TIMED_OUT', async () => {
    const c = new XksProxyClient(endpointOf(`https://127.0.0.1:${mutePort}`, fakeCredential), { timeoutMs: 200 });
    try {
      await failure(health(c), 'TIMED_OUT', secrets);
    } finally {
      c.close();
    }
  });

  test('an answer that starts and never ends: TIMED_OUT', async () => {
    const c = new XksProxyClient(endpointOf(fakeUrl, fakeCredential), { timeoutMs: 200, allowPlainHttp: true });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"xksProxyFleetSize":');
    };
    try {
      await failure(health(c), 'TIMED_OUT', secrets);
    } finally {
      c.close();
      handler = (_req, res) => json(res, 200, GOOD_HEALTH);
    }
  });

  test('HTTPS to a plain HTTP server: INVALID_TLS', async () => {
    const c = new XksProxyClient(endpointOf(fakeUrl.replace('http:', 'https:'), fakeCredential), { timeoutMs: 2_000 });
    try {
      await failure(health(c), 'INVALID_TLS', secrets);
    } finally {
      c.close();
    }
  });

  test('a trusted certificate for another host name: INVALID_TLS', async () => {
    const c = new XksProxyClient(endpointOf(`https://127.0.0.1:${wrongNamePort}`, fakeCredential), { timeoutMs: 2_000, ca: caPem });
    try {
      const err = await failure(health(c), 'INVALID_TLS', secrets);
      assert.match(err.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
    } finally {
      c.close();
    }
  });
});
