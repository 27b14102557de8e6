// SigV4 on a real keybridge (default configuration, SoftHSM2 token, SQLite store) over HTTP:
// a request whose X-Amz-Target is not signed cannot be replayed as another operation, and the
// default clock skew is AWS's 5 minutes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

import { rawRequest, type RawResponse } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

const AMZ_JSON = 'application/x-amz-json-1.1';
const TARGET_UNSIGNED = "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.";

describe('SigV4 on a real server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.destroy();
  });

  async function call(target: string, body: object, signingDate?: Date): Promise<RawResponse> {
    return rawRequest(server, { target: `TrentService.${target}`, body: JSON.stringify(body), ...(signingDate ? { signingDate } : {}) });
  }

  async function createKey(): Promise<string> {
    const res = await call('CreateKey', {});
    assert.equal(res.status, 200, res.body);
    return res.json.KeyMetadata.KeyId as string;
  }

  /** Authorization and X-Amz-Date for `body`, signed over host and x-amz-date only. */
  async function signHostAndDateOnly(body: string): Promise<Record<string, string>> {
    const url = new URL(server.url);
    const signer = new SignatureV4({ credentials: server.credentials, region: server.region, service: 'kms', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
    const signed = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', query: {}, headers: { host: url.host }, body },
      {},
    );
    const auth = String(signed.headers.authorization);
    assert.match(auth, /SignedHeaders=host;x-amz-date,/);
    return { authorization: auth, 'x-amz-date': String(signed.headers['x-amz-date']) };
  }

  test('an Encrypt signed without X-Amz-Target is refused, and replaying it as ScheduleKeyDeletion changes nothing', async () => {
    const keyId = await createKey();
    const body = JSON.stringify({ KeyId: keyId, Plaintext: Buffer.from('attack at dawn').toString('base64') });
    const auth = await signHostAndDateOnly(body);
    for (const target of ['TrentService.Encrypt', 'TrentService.ScheduleKeyDeletion', 'TrentService.DisableKey']) {
      const res = await rawRequest(server, { sign: false, target, body, contentType: AMZ_JSON, headers: auth });
      assert.equal(res.status, 400, `${target}: ${res.body}`);
      assert.equal(res.json?.__type, 'IncompleteSignatureException', res.body);
      assert.equal(res.json?.message, TARGET_UNSIGNED);
    }
    const described = await call('DescribeKey', { KeyId: keyId });
    assert.equal(described.status, 200, described.body);
    assert.equal(described.json.KeyMetadata.KeyState, 'Enabled');
    assert.equal(described.json.KeyMetadata.Enabled, true);
    assert.equal(described.json.KeyMetadata.DeletionDate, undefined);
    // The same Encrypt, signed as every AWS client signs it, works.
    const encrypted = await call('Encrypt', JSON.parse(body));
    assert.equal(encrypted.status, 200, encrypted.body);
  });

  test('by default a request signed 4 minutes off is accepted, 6 minutes off is refused', async () => {
    const minutes = (n: number) => new Date(Date.now() + n * 60_000);
    for (const n of [-4, 4]) {
      const res = await call('ListKeys', {}, minutes(n));
      assert.equal(res.status, 200, `${n} min: ${res.body}`);
    }
    const expired = await call('ListKeys', {}, minutes(-6));
    assert.equal(expired.status, 400);
    assert.equal(expired.json?.__type, 'InvalidSignatureException');
    assert.match(expired.json?.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    const early = await call('ListKeys', {}, minutes(6));
    assert.equal(early.json?.__type, 'InvalidSignatureException');
    assert.match(early.json?.message, /^Signature not yet current: .* \+ 5 min\.\)$/);
  });
});
