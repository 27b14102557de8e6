// The optional HTTPS listener, exercised by the real SDK and the real AWS CLI with a private CA.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { awsCliMissing, awsKms } from '../support/kms-client.js';
import { makeDataDir, startServer, type TestServer } from '../support/server.js';

let server: TestServer;
let certFile: string;

before(async () => {
  const dataDir = makeDataDir();
  certFile = join(dataDir, 'tls.crt');
  const keyFile = join(dataDir, 'tls.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  server = await startServer({ dataDir, settings: { listen: { host: '127.0.0.1', port: 0, tls: { certFile, keyFile } } } });
});

after(async () => {
  await server?.destroy();
});

test('the server listens with TLS and reports an https URL', () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
});

test('the JS SDK encrypts and decrypts over HTTPS, trusting the private CA', async () => {
  const kms = new KMSClient({
    region: server.region,
    endpoint: server.url,
    maxAttempts: 1,
    credentials: server.credentials,
    requestHandler: { httpsAgent: new Agent({ ca: readFileSync(certFile) }) },
  });
  const created = await kms.send(new CreateKeyCommand({}));
  const keyId = created.KeyMetadata!.KeyId!;
  const plaintext = Buffer.from('over TLS');
  const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
  const decrypted = await kms.send(new DecryptCommand({ CiphertextBlob }));
  assert.deepEqual(Buffer.from(decrypted.Plaintext!), plaintext);
  kms.destroy();
});

test('a client that does not trust the certificate cannot connect', async () => {
  const kms = new KMSClient({ region: server.region, endpoint: server.url, maxAttempts: 1, credentials: server.credentials });
  await assert.rejects(kms.send(new CreateKeyCommand({})), (err: Error) => /certificate/i.test(err.message));
  kms.destroy();
});

test('the AWS CLI works over HTTPS with --ca-bundle', { skip: awsCliMissing }, async () => {
  const result = await awsKms(server, ['generate-random', '--number-of-bytes', '24', '--ca-bundle', certFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(Buffer.from(result.json.Plaintext, 'base64').length, 24);
});
