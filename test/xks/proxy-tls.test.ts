// The XKS proxy's transport (spec "API content type", "Authentication"): HTTPS with TLS 1.2+ and
// the spec's AES-256-GCM suites, and optional mutual TLS where the client certificate must chain
// to the configured CA and name the configured subject (AWS KMS: cks.kms.<region>.amazonaws.com).
// Certificates come from a throw-away CA made with openssl.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';
import { issueCertificate as issue } from '../support/test-ca.js';

const URI_PATH = '/tls/kms/xks/v1';
const KMS_SUBJECT = 'cks.kms.us-east-1.amazonaws.com';

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** A signed GetHealthStatus over HTTPS with the given TLS options. */
async function health(server: TestServer, creds: { accessKeyId: string; secretAccessKey: string }, tls: RequestOptions): Promise<Reply> {
  const url = new URL(server.keybridge.xksProxyUrl!);
  const body = JSON.stringify({ requestMetadata: { kmsRequestId: 'tls-test', kmsOperation: 'KmsHealthCheck' } });
  const signer = new SignatureV4({ credentials: creds, region: server.region, service: 'kms-xks-proxy', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'POST', protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: `${URI_PATH}/health`,
    headers: { host: url.host, 'content-type': 'application/json' }, body,
  });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: Number(url.port), method: 'POST', path: `${URI_PATH}/health`, headers: signed.headers, servername: 'localhost', agent: false, ...tls },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function adminCall(server: TestServer, operation: string, input: object): Promise<Record<string, unknown>> {
  const out = (await server.keybridge.app.inject({ method: 'POST', url: '/', headers: await adminHeaders(server, operation, input), payload: JSON.stringify(input) })).json();
  return out as Record<string, unknown>;
}

async function adminHeaders(server: TestServer, operation: string, input: object): Promise<Record<string, string>> {
  const url = new URL(server.url);
  const signer = new SignatureV4({ credentials: server.credentials, region: server.region, service: 'kms', sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/',
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `KeybridgeAdmin.${operation}` }, body: JSON.stringify(input),
  });
  return signed.headers;
}

const dir = makeDataDir();
const ca = issue(dir, 'ca', 'keybridge test CA');
const serverCert = issue(dir, 'server', 'localhost', ca, 'DNS:localhost,IP:127.0.0.1');
const kmsClient = issue(dir, 'kms-client', KMS_SUBJECT, ca);
const wrongName = issue(dir, 'wrong-name', 'attacker.example', ca);
const otherCa = issue(dir, 'other-ca', KMS_SUBJECT);
const trust = { ca: readFileSync(ca.cert) };

async function startProxy(mutual: boolean): Promise<{ server: TestServer; creds: { accessKeyId: string; secretAccessKey: string } }> {
  const server = await startServer({
    settings: {
      xksProxy: {
        enabled: true,
        host: '127.0.0.1',
        port: 0,
        tls: { certFile: serverCert.cert, keyFile: serverCert.key, ...(mutual ? { clientCertificate: { caFile: ca.cert, subject: KMS_SUBJECT } } : {}) },
      },
    },
  });
  const credential = await adminCall(server, 'CreateXksCredential', { UriPath: URI_PATH });
  return { server, creds: { accessKeyId: credential.AccessKeyId as string, secretAccessKey: credential.RawSecretAccessKey as string } };
}

describe('HTTPS without client certificates', () => {
  let server: TestServer;
  let creds: { accessKeyId: string; secretAccessKey: string };
  before(async () => ({ server, creds } = await startProxy(false)));
  after(async () => server?.destroy());

  test('the proxy URL is https and a signed health check succeeds over TLS 1.3 with TLS_AES_256_GCM_SHA384', async () => {
    assert.match(server.keybridge.xksProxyUrl!, /^https:\/\/127\.0\.0\.1:\d+$/);
    const reply = await health(server, creds, { ...trust, minVersion: 'TLSv1.3', ciphersuites: 'TLS_AES_256_GCM_SHA384' } as RequestOptions);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.xksProxyVendor, 'keybridge');
  });

  test('TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 works', async () => {
    const reply = await health(server, creds, { ...trust, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' });
    assert.equal(reply.status, 200);
  });

  test('TLS 1.1 is refused', async () => {
    await assert.rejects(health(server, creds, { ...trust, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), /protocol|version|alert|handshake/i);
  });

  test('plain HTTP to the TLS port gets no XKS answer', async () => {
    const url = new URL(server.keybridge.xksProxyUrl!);
    const res = await fetch(`http://${url.host}${URI_PATH}/health`, { method: 'POST', body: '{}' }).catch((err: Error) => err);
    assert.ok(res instanceof Error || res.status === 400, `plain HTTP must not be served: ${res instanceof Error ? res.message : res.status}`);
  });
});

describe('mutual TLS', () => {
  let server: TestServer;
  let creds: { accessKeyId: string; secretAccessKey: string };
  before(async () => ({ server, creds } = await startProxy(true)));
  after(async () => {
    await server?.destroy();
  });

  test("AWS KMS's client certificate (the configured subject, chained to the configured CA) is served", async () => {
    const reply = await health(server, creds, { ...trust, cert: readFileSync(kmsClient.cert), key: readFileSync(kmsClient.key) });
    assert.equal(reply.status, 200);
    assert.ok(Array.isArray(reply.body.ekmFleetDetails));
  });

  test("curl, as the spec's Appendix D calls a proxy (--aws-sigv4), with AWS KMS's client certificate", async () => {
    const url = new URL(server.keybridge.xksProxyUrl!);
    const { stdout } = await promisify(execFile)('curl', [
      '-sS', '-w', '\n%{http_code}', '--cacert', ca.cert, '--cert', kmsClient.cert, '--key', kmsClient.key,
      '--resolve', `localhost:${url.port}:127.0.0.1`,
      '--aws-sigv4', `aws:amz:${server.region}:kms-xks-proxy`, '--user', `${creds.accessKeyId}:${creds.secretAccessKey}`,
      '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ requestMetadata: { kmsRequestId: 'curl', kmsOperation: 'KmsHealthCheck' } }),
      `https://localhost:${url.port}${URI_PATH}/health`,
    ]);
    const [body, status] = stdout.split('\n');
    assert.equal(status, '200', stdout);
    assert.equal((JSON.parse(body!) as { xksProxyFleetSize: number }).xksProxyFleetSize, 1);
  });

  test('no client certificate: the handshake fails', async () => {
    await assert.rejects(health(server, creds, trust), /certificate|alert|socket hang up|ECONNRESET|handshake/i);
  });

  test('a certificate from another CA, even with the right subject, is refused', async () => {
    await assert.rejects(health(server, creds, { ...trust, cert: readFileSync(otherCa.cert), key: readFileSync(otherCa.key) }), /certificate|alert|socket hang up|ECONNRESET|unknown ca/i);
  });

  test('a certificate of the right CA naming another subject is refused before any request is read', async () => {
    await assert.rejects(health(server, creds, { ...trust, cert: readFileSync(wrongName.cert), key: readFileSync(wrongName.key) }), /socket hang up|ECONNRESET|EPIPE/i);
  });
});

after(() => {
  // The certificate directory; each server removes its own data directory.
  execFileSync('rm', ['-rf', dir]);
});
