// keybridge's XKS proxy against the XKS Proxy API spec v1.0.3 (aws/aws-kms-xksproxy-api-spec,
// xks_proxy_api_spec.md): every operation, every error the spec names for it, the limits the spec
// requires, the CDIV of Appendix C, SigV4 as Appendix A describes it, and the audit trail (spec
// "Logging": requestMetadata logged, plaintext never). One in-process server for the whole file.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { auditRecordsWhere } from '../support/audit-records.js';
import { startServer, type TestServer } from '../support/server.js';
import { until } from '../support/until.js';
import {
  assertOk, assertXksError, b64, cdivOf, createXksCredential, createXksKey, deleteXksCredential, healthRequestMetadata,
  keyRequestMetadata, setXksKeyEnabled, xksAdmin, xksProxySettings, XksClient, type XksCredential, type XksResponse,
} from '../support/xks-client.js';

const PATH_A = '/tenant-a/kms/xks/v1';
const PATH_B = '/tenant-b/kms/xks/v1';
const PATH_ROOT = '/kms/xks/v1';
const PATH_ROTATION = '/rotation/kms/xks/v1';

const KEY_A = 'key-a';
const KEY_A2 = 'key-a2';
const KEY_B = 'key-b';
const ENCRYPT_ONLY = 'encrypt-only';
const DECRYPT_ONLY = 'decrypt-only';
const TOGGLED = 'toggled';
const ROOT_KEY = 'root-key';
const ROTATION_KEY = 'rotation-key';
const LONG_KEY = `Ab.9_-${'x'.repeat(122)}`; // 128 characters of [A-Za-z0-9._-]

// The spec's Encrypt request example: "Hello World!" and "project=nile,department=marketing".
const SPEC_PLAINTEXT = 'SGVsbG8gV29ybGQh';
const SPEC_AAD = 'cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n';

let server: TestServer;
let baseUrl: string;
let a: XksClient; // PATH_A, credential of PATH_A
let b: XksClient; // PATH_B, credential of PATH_B
let root: XksClient; // PATH_ROOT
let credA: XksCredential;
let credB: XksCredential;

function otherRegion(): string {
  return server.region === 'eu-west-3' ? 'us-west-2' : 'eu-west-3';
}

/** base64 of `text` with one bit of byte `at` flipped. */
function flip(text: string, at = 0): string {
  const bytes = Buffer.from(text, 'base64');
  bytes[at % bytes.length]! ^= 0x01;
  return bytes.toString('base64');
}

interface Sealed {
  readonly ciphertext: string;
  readonly initializationVector: string;
  readonly authenticationTag: string;
  readonly ciphertextMetadata?: string;
  readonly ciphertextDataIntegrityValue?: string;
}

/** Encrypt that must succeed; returns the response fields and checks the spec's sizes. */
async function seal(client: XksClient, keyId: string, plaintext: string, aad?: string, extra: Record<string, unknown> = {}): Promise<Sealed> {
  const res = await client.encrypt(keyId, { plaintext, ...(aad === undefined ? {} : { additionalAuthenticatedData: aad }), ...extra });
  const out = assertOk(res, `encrypt under ${keyId}`);
  assert.equal(b64(out.ciphertext, 'ciphertext').length, Buffer.from(plaintext, 'base64').length, 'ciphertext length = plaintext length');
  assert.equal(b64(out.initializationVector, 'initializationVector').length, 12, 'IV of 12 bytes');
  assert.equal(b64(out.authenticationTag, 'authenticationTag').length, 16, 'tag of 16 bytes');
  if (out.ciphertextMetadata !== undefined) assert.ok(b64(out.ciphertextMetadata, 'ciphertextMetadata').length <= 20, 'ciphertextMetadata ≤ 20 bytes');
  return out as Sealed;
}

function decryptFields(s: Sealed, aad?: string): Record<string, unknown> {
  return {
    ciphertext: s.ciphertext,
    initializationVector: s.initializationVector,
    authenticationTag: s.authenticationTag,
    ...(s.ciphertextMetadata === undefined ? {} : { ciphertextMetadata: s.ciphertextMetadata }),
    ...(aad === undefined ? {} : { additionalAuthenticatedData: aad }),
  };
}

async function open(client: XksClient, keyId: string, s: Sealed, aad?: string): Promise<string> {
  const out = assertOk(await client.decrypt(keyId, decryptFields(s, aad)), `decrypt under ${keyId}`);
  return out.plaintext;
}

before(async () => {
  server = await startServer({ settings: xksProxySettings() });
  const url = (server.keybridge as unknown as { xksProxyUrl?: string }).xksProxyUrl;
  assert.ok(url, 'keybridge.xksProxyUrl is set when xksProxy.enabled');
  baseUrl = url;
  credA = await createXksCredential(server, PATH_A);
  credB = await createXksCredential(server, PATH_B);
  const credRoot = await createXksCredential(server, PATH_ROOT);
  for (const [XksKeyId, UriPath, KeyUsage] of [
    [KEY_A, PATH_A, undefined],
    [KEY_A2, PATH_A, undefined],
    [KEY_B, PATH_B, undefined],
    [ENCRYPT_ONLY, PATH_A, ['ENCRYPT']],
    [DECRYPT_ONLY, PATH_A, ['DECRYPT']],
    [TOGGLED, PATH_A, undefined],
    [ROOT_KEY, PATH_ROOT, undefined],
    [ROTATION_KEY, PATH_ROTATION, undefined],
    [LONG_KEY, PATH_A, undefined],
  ] as const) {
    await createXksKey(server, { XksKeyId, UriPath, ...(KeyUsage ? { KeyUsage: [...KeyUsage] } : {}) });
  }
  a = new XksClient(baseUrl, PATH_A, credA, server.region);
  b = new XksClient(baseUrl, PATH_B, credB, server.region);
  root = new XksClient(baseUrl, PATH_ROOT, credRoot, server.region);
});

after(async () => {
  await server?.destroy();
});

describe('the four operations', () => {
  test('GetKeyMetadata: keySpec AES_256, keyUsage [ENCRYPT, DECRYPT], keyStatus ENABLED', async () => {
    const out = assertOk(await a.metadata(KEY_A), 'metadata');
    assert.equal(out.keySpec, 'AES_256');
    assert.deepEqual([...out.keyUsage].sort(), ['DECRYPT', 'ENCRYPT']);
    assert.ok(out.keyUsage.length <= 10);
    assert.equal(out.keyStatus, 'ENABLED');
  });

  test('GetKeyMetadata for CreateKey carries no kmsKeyArn and is answered', async () => {
    const { kmsKeyArn: _omitted, ...requestMetadata } = keyRequestMetadata('CreateKey');
    const out = assertOk(await a.metadata(KEY_A, { requestMetadata }), 'metadata without kmsKeyArn');
    assert.equal(out.keyStatus, 'ENABLED');
  });

  test('Encrypt then Decrypt round-trips the spec example (12-byte ciphertext, 12-byte IV, 16-byte tag)', async () => {
    const sealed = await seal(a, KEY_A, SPEC_PLAINTEXT, SPEC_AAD);
    assert.equal(Buffer.from(sealed.ciphertext, 'base64').length, 12);
    assert.notEqual(sealed.ciphertext, SPEC_PLAINTEXT);
    assert.equal(await open(a, KEY_A, sealed, SPEC_AAD), SPEC_PLAINTEXT);
    assert.equal(Buffer.from(await open(a, KEY_A, sealed, SPEC_AAD), 'base64').toString(), 'Hello World!');
  });

  test('Encrypt and Decrypt without AAD', async () => {
    const plaintext = randomBytes(32).toString('base64');
    const sealed = await seal(a, KEY_A, plaintext);
    assert.equal(await open(a, KEY_A, sealed), plaintext);
  });

  test('two encryptions of one plaintext use different IVs and give different ciphertexts', async () => {
    const first = await seal(a, KEY_A, SPEC_PLAINTEXT, SPEC_AAD);
    const second = await seal(a, KEY_A, SPEC_PLAINTEXT, SPEC_AAD);
    assert.notEqual(first.initializationVector, second.initializationVector);
    assert.notEqual(first.ciphertext, second.ciphertext);
  });

  test('the bare /kms/xks/v1 path (no prefix) serves its own keys', async () => {
    assert.equal(assertOk(await root.metadata(ROOT_KEY)).keyStatus, 'ENABLED');
    const sealed = await seal(root, ROOT_KEY, SPEC_PLAINTEXT, SPEC_AAD);
    assert.equal(await open(root, ROOT_KEY, sealed, SPEC_AAD), SPEC_PLAINTEXT);
    assertOk(await root.health());
  });

  test('GetHealthStatus: fleet size, vendors, model, 1..10 EKM entries with ACTIVE|DEGRADED|UNAVAILABLE', async () => {
    const out = assertOk(await a.health(), 'health');
    assert.ok(Number.isInteger(out.xksProxyFleetSize) && out.xksProxyFleetSize > 0, `xksProxyFleetSize ${out.xksProxyFleetSize}`);
    assert.equal(out.xksProxyFleetSize, 1);
    assert.equal(out.xksProxyVendor, 'keybridge');
    for (const field of ['xksProxyVendor', 'xksProxyModel', 'ekmVendor'] as const) {
      assert.equal(typeof out[field], 'string', field);
      assert.ok(out[field].length > 0, `${field} is empty`);
    }
    assert.ok(Array.isArray(out.ekmFleetDetails), 'ekmFleetDetails is an array');
    assert.ok(out.ekmFleetDetails.length >= 1 && out.ekmFleetDetails.length <= 10, `${out.ekmFleetDetails.length} ekmFleetDetails`);
    for (const ekm of out.ekmFleetDetails) {
      assert.equal(typeof ekm.id, 'string');
      assert.equal(typeof ekm.model, 'string');
      assert.ok(['ACTIVE', 'DEGRADED', 'UNAVAILABLE'].includes(ekm.healthStatus), ekm.healthStatus);
    }
    assert.equal(out.ekmFleetDetails[0].healthStatus, 'ACTIVE', 'the embedded SoftHSM2 token is healthy');
  });

  test('GetHealthStatus accepts every kmsOperation KMS sends, and unknown ones', async () => {
    for (const op of ['CreateCustomKeyStore', 'ConnectCustomKeyStore', 'UpdateCustomKeyStore', 'KmsHealthCheck', 'SomeFutureOperation']) {
      assertOk(await a.health({ requestMetadata: healthRequestMetadata(op) }), `health for ${op}`);
    }
  });
});

describe('ciphertextDataIntegrityValue (spec Encrypt, Appendix C)', () => {
  test('with AAD: CDIV = base64(SHA-256(aad ‖ iv ‖ ciphertext ‖ tag)), and the result decrypts', async () => {
    const sealed = await seal(a, KEY_A, SPEC_PLAINTEXT, SPEC_AAD, { ciphertextDataIntegrityValueAlgorithm: 'SHA_256' });
    assert.ok(sealed.ciphertextDataIntegrityValue, 'CDIV requested but not returned');
    const expected = cdivOf({
      aad: Buffer.from(SPEC_AAD, 'base64'),
      ...(sealed.ciphertextMetadata === undefined ? {} : { metadata: Buffer.from(sealed.ciphertextMetadata, 'base64') }),
      iv: Buffer.from(sealed.initializationVector, 'base64'),
      ciphertext: Buffer.from(sealed.ciphertext, 'base64'),
      tag: Buffer.from(sealed.authenticationTag, 'base64'),
    });
    assert.equal(sealed.ciphertextDataIntegrityValue, expected);
    assert.equal(await open(a, KEY_A, sealed, SPEC_AAD), SPEC_PLAINTEXT);
  });

  test('without AAD: CDIV = base64(SHA-256(iv ‖ ciphertext ‖ tag))', async () => {
    const plaintext = randomBytes(48).toString('base64');
    const sealed = await seal(a, KEY_A, plaintext, undefined, { ciphertextDataIntegrityValueAlgorithm: 'SHA_256' });
    const expected = cdivOf({
      ...(sealed.ciphertextMetadata === undefined ? {} : { metadata: Buffer.from(sealed.ciphertextMetadata, 'base64') }),
      iv: Buffer.from(sealed.initializationVector, 'base64'),
      ciphertext: Buffer.from(sealed.ciphertext, 'base64'),
      tag: Buffer.from(sealed.authenticationTag, 'base64'),
    });
    assert.equal(sealed.ciphertextDataIntegrityValue, expected);
  });
});

describe('InvalidUriPathException (404)', () => {
  test('an unknown path prefix, signed or not', async () => {
    const nowhere = a.with({ uriPath: '/nowhere/kms/xks/v1' });
    assertXksError(await nowhere.metadata(KEY_A), 404, 'InvalidUriPathException', 'signed metadata');
    assertXksError(await nowhere.health(), 404, 'InvalidUriPathException', 'signed health');
    assertXksError(await nowhere.with({ credential: credB }).metadata(KEY_A), 404, 'InvalidUriPathException', 'signed by another path');
    assertXksError(await a.with({ uriPath: '/tenant-a/kms/xks/v2' }).health(), 404, 'InvalidUriPathException', 'v2');
    assertXksError(await a.with({ uriPath: '/tenant-a' }).health(), 404, 'InvalidUriPathException', 'prefix alone');
    assertXksError(await a.with({ uriPath: '/tenant-a/kms/xks/v2', credential: null }).health(), 404, 'InvalidUriPathException', 'unsigned v2');
  });

  test('a well-formed prefix nobody configured is not revealed to unsigned callers: 401, and 404 once signed', async () => {
    // keybridge's choice (docs/xks.md): whether a prefix exists is told only to a caller holding
    // some credential of this proxy; a malformed URI is 404 for anyone (test above).
    const unsigned = a.with({ uriPath: '/nowhere/kms/xks/v1', credential: null });
    assertXksError(await unsigned.health(), 401, 'AuthenticationFailedException', 'unsigned health');
    assertXksError(await unsigned.metadata(KEY_A), 401, 'AuthenticationFailedException', 'unsigned metadata');
    const signed = a.with({ uriPath: '/nowhere/kms/xks/v1' });
    assertXksError(await signed.health(), 404, 'InvalidUriPathException', 'signed health');
  });

  test('an unknown operation under a known prefix', async () => {
    for (const path of [`/keys/${KEY_A}/sign`, `/keys/${KEY_A}`, `/keys/${KEY_A}/encrypt/more`, '/keys', '/healthz', '/health/more', '/']) {
      assertXksError(await a.send(path, { body: { requestMetadata: keyRequestMetadata('Encrypt') } }), 404, 'InvalidUriPathException', path);
    }
  });
});

describe('methods other than POST (spec "API operations": GET MUST be rejected with 405)', () => {
  test('GET on metadata, encrypt, decrypt and health is 405 with Allow: POST', async () => {
    for (const path of [`/keys/${KEY_A}/metadata`, `/keys/${KEY_A}/encrypt`, `/keys/${KEY_A}/decrypt`, '/health']) {
      for (const credential of [credA, null]) {
        const res = await a.send(path, { method: 'GET', credential });
        assert.equal(res.status, 405, `GET ${path} (${credential ? 'signed' : 'unsigned'}): ${res.status} ${res.body}`);
        assert.match(String(res.headers['allow'] ?? ''), /\bPOST\b/, `Allow header of GET ${path}`);
      }
    }
  });
});

describe('AuthenticationFailedException (401, spec Authentication and Appendix A)', () => {
  const fail = (res: XksResponse, what: string) => assertXksError(res, 401, 'AuthenticationFailedException', what);

  test('no Authorization header', async () => {
    const unsigned = a.with({ credential: null });
    fail(await unsigned.metadata(KEY_A), 'metadata');
    fail(await unsigned.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT }), 'encrypt');
    fail(await unsigned.health(), 'health');
  });

  test('a malformed Authorization header', async () => {
    const res = await a.with({ credential: null }).health(undefined, { headers: { authorization: 'AWS4-HMAC-SHA256 nonsense', 'x-amz-date': '20240101T000000Z' } });
    fail(res, 'malformed');
  });

  test('the right access key id with a wrong secret', async () => {
    const forged = a.with({ credential: { accessKeyId: credA.accessKeyId, secretAccessKey: `${credA.secretAccessKey.slice(0, -2)}AA` } });
    fail(await forged.metadata(KEY_A), 'metadata');
    fail(await forged.health(), 'health');
  });

  test('an unknown access key id', async () => {
    const stranger = a.with({ credential: { accessKeyId: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', secretAccessKey: credA.secretAccessKey } });
    fail(await stranger.metadata(KEY_A), 'metadata');
  });

  test('a credential of another uriPath', async () => {
    const crossed = a.with({ credential: credB });
    fail(await crossed.metadata(KEY_A), 'B credential on A metadata');
    fail(await crossed.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT }), 'B credential on A encrypt');
    fail(await crossed.health(), 'B credential on A health');
    fail(await b.with({ credential: credA }).metadata(KEY_B), 'A credential on B metadata');
  });

  test('a scope with another service name (kms, kms-xks) or region', async () => {
    fail(await a.metadata(KEY_A, undefined, { service: 'kms' }), 'service kms');
    fail(await a.metadata(KEY_A, undefined, { service: 'kms-xks' }), 'service kms-xks');
    fail(await a.health(undefined, { service: 'kms' }), 'health with service kms');
    fail(await a.with({ region: otherRegion() }).metadata(KEY_A), `region ${otherRegion()}`);
  });

  test('a timestamp more than 5 minutes off fails; 4 minutes off passes', async () => {
    const now = server.clock.now();
    fail(await a.metadata(KEY_A, undefined, { signingDate: new Date(now - 6 * 60_000) }), '6 minutes old');
    fail(await a.metadata(KEY_A, undefined, { signingDate: new Date(now + 6 * 60_000) }), '6 minutes ahead');
    fail(await a.health(undefined, { signingDate: new Date(now - 10 * 60_000) }), 'health 10 minutes old');
    assertOk(await a.metadata(KEY_A, undefined, { signingDate: new Date(now - 4 * 60_000) }), '4 minutes old');
    assertOk(await a.metadata(KEY_A, undefined, { signingDate: new Date(now + 4 * 60_000) }), '4 minutes ahead');
  });

  test('a body changed after signing (the signature covers the payload)', async () => {
    const signedBody = { requestMetadata: keyRequestMetadata('Encrypt'), plaintext: SPEC_PLAINTEXT, encryptionAlgorithm: 'AES_GCM' };
    const swapped = JSON.stringify({ ...signedBody, plaintext: randomBytes(12).toString('base64') });
    fail(await a.send(`/keys/${KEY_A}/encrypt`, { body: signedBody, bodyAfterSigning: swapped }), 'tampered body');
  });

  test('rotation: two credentials per path both work, a third is refused, a deleted one fails at once', async () => {
    const first = await createXksCredential(server, PATH_ROTATION);
    const second = await createXksCredential(server, PATH_ROTATION);
    assert.notEqual(first.accessKeyId, second.accessKeyId);
    const viaFirst = new XksClient(baseUrl, PATH_ROTATION, first, server.region);
    const viaSecond = viaFirst.with({ credential: second });
    assertOk(await viaFirst.metadata(ROTATION_KEY), 'first credential');
    assertOk(await viaSecond.metadata(ROTATION_KEY), 'second credential');
    assertOk(await viaFirst.health(), 'first credential, health');
    assertOk(await viaSecond.health(), 'second credential, health');

    const third = await xksAdmin(server, 'CreateXksCredential', { UriPath: PATH_ROTATION });
    assert.equal(third.status, 400, third.body);
    assert.equal(third.json?.__type, 'LimitExceededException', third.body);

    await deleteXksCredential(server, first.accessKeyId);
    fail(await viaFirst.metadata(ROTATION_KEY), 'deleted credential');
    fail(await viaFirst.health(), 'deleted credential, health');
    assertOk(await viaSecond.metadata(ROTATION_KEY), 'the remaining credential');

    // The freed slot can be used again.
    const replacement = await createXksCredential(server, PATH_ROTATION);
    assertOk(await viaFirst.with({ credential: replacement }).metadata(ROTATION_KEY), 'replacement credential');
  });
});

describe('ValidationException (400)', () => {
  const invalid = (res: XksResponse, what: string) => assertXksError(res, 400, 'ValidationException', what);
  const sealedP = () => seal(a, KEY_A, SPEC_PLAINTEXT, SPEC_AAD);

  test('a body that is not JSON, or not a JSON object', async () => {
    for (const op of ['metadata', 'encrypt', 'decrypt']) {
      for (const body of ['{"requestMetadata":', 'not json', '[]', '"text"', 'null', '']) {
        invalid(await a.send(`/keys/${KEY_A}/${op}`, { body }), `${op} with body ${JSON.stringify(body)}`);
      }
    }
  });

  test('requestMetadata missing or not an object', async () => {
    invalid(await a.metadata(KEY_A, {}), 'metadata {}');
    invalid(await a.metadata(KEY_A, { requestMetadata: 'x' }), 'metadata with a string requestMetadata');
    invalid(await a.send(`/keys/${KEY_A}/encrypt`, { body: { plaintext: SPEC_PLAINTEXT, encryptionAlgorithm: 'AES_GCM' } }), 'encrypt');
    const s = await sealedP();
    invalid(await a.send(`/keys/${KEY_A}/decrypt`, { body: { ...decryptFields(s, SPEC_AAD), encryptionAlgorithm: 'AES_GCM' } }), 'decrypt');
  });

  test('a required requestMetadata field missing or not a string', async () => {
    const s = await sealedP();
    const without = (op: string, field: string) => {
      const md: Record<string, unknown> = keyRequestMetadata(op);
      delete md[field];
      return md;
    };
    for (const field of ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn']) {
      invalid(await a.metadata(KEY_A, { requestMetadata: without('DescribeKey', field) }), `metadata without ${field}`);
    }
    for (const field of ['kmsRequestId', 'kmsOperation', 'awsPrincipalArn', 'kmsKeyArn']) {
      invalid(await a.encrypt(KEY_A, { requestMetadata: without('Encrypt', field), plaintext: SPEC_PLAINTEXT }), `encrypt without ${field}`);
      invalid(await a.decrypt(KEY_A, { requestMetadata: without('Decrypt', field), ...decryptFields(s, SPEC_AAD) }), `decrypt without ${field}`);
    }
    invalid(await a.encrypt(KEY_A, { requestMetadata: keyRequestMetadata('Encrypt', { kmsRequestId: 42 }), plaintext: SPEC_PLAINTEXT }), 'numeric kmsRequestId');
  });

  test('Encrypt: plaintext missing or not base64, AAD not base64', async () => {
    invalid(await a.encrypt(KEY_A, {}), 'no plaintext');
    invalid(await a.encrypt(KEY_A, { plaintext: 42 }), 'numeric plaintext');
    invalid(await a.encrypt(KEY_A, { plaintext: '%%% not base64 %%%' }), 'plaintext not base64');
    invalid(await a.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT, additionalAuthenticatedData: '***' }), 'AAD not base64');
  });

  test('encryptionAlgorithm other than AES_GCM, or missing', async () => {
    for (const encryptionAlgorithm of ['AES_CBC', 'aes_gcm', 'SYMMETRIC_DEFAULT', '']) {
      invalid(await a.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT, encryptionAlgorithm }), `encrypt with ${encryptionAlgorithm}`);
    }
    const s = await sealedP();
    invalid(await a.decrypt(KEY_A, { ...decryptFields(s, SPEC_AAD), encryptionAlgorithm: 'AES_CBC' }), 'decrypt with AES_CBC');
    invalid(
      await a.send(`/keys/${KEY_A}/encrypt`, { body: { requestMetadata: keyRequestMetadata('Encrypt'), plaintext: SPEC_PLAINTEXT } }),
      'encrypt without encryptionAlgorithm',
    );
  });

  test('ciphertextDataIntegrityValueAlgorithm other than SHA_256', async () => {
    for (const alg of ['SHA_512', 'sha_256', 'SHA256', '']) {
      invalid(await a.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT, ciphertextDataIntegrityValueAlgorithm: alg }), `CDIV algorithm ${alg}`);
    }
  });

  test('Decrypt: IV of 11 or 13 bytes, tag of 15 or 17 bytes, missing or non-base64 fields', async () => {
    const s = await sealedP();
    const fields = decryptFields(s, SPEC_AAD);
    const iv = Buffer.from(s.initializationVector, 'base64');
    const tag = Buffer.from(s.authenticationTag, 'base64');
    invalid(await a.decrypt(KEY_A, { ...fields, initializationVector: iv.subarray(0, 11).toString('base64') }), 'IV of 11 bytes');
    invalid(await a.decrypt(KEY_A, { ...fields, initializationVector: Buffer.concat([iv, Buffer.alloc(1)]).toString('base64') }), 'IV of 13 bytes');
    invalid(await a.decrypt(KEY_A, { ...fields, authenticationTag: tag.subarray(0, 15).toString('base64') }), 'tag of 15 bytes');
    invalid(await a.decrypt(KEY_A, { ...fields, authenticationTag: Buffer.concat([tag, Buffer.alloc(1)]).toString('base64') }), 'tag of 17 bytes');
    for (const field of ['ciphertext', 'initializationVector', 'authenticationTag']) {
      const { [field]: _gone, ...rest } = fields;
      invalid(await a.decrypt(KEY_A, rest), `decrypt without ${field}`);
      invalid(await a.decrypt(KEY_A, { ...fields, [field]: '!!not base64!!' }), `${field} not base64`);
    }
    // The untouched fields still decrypt: the failures above were about the fields alone.
    assert.equal(await open(a, KEY_A, s, SPEC_AAD), SPEC_PLAINTEXT);
  });

  test('the body is validated before the key is looked up (contract order)', async () => {
    invalid(await a.encrypt('no-such-key', { plaintext: '%%%' }), 'bad plaintext on an unknown key');
  });
});

describe('KeyNotFoundException (404)', () => {
  test('an unknown key id, on every key operation', async () => {
    const s = await seal(a, KEY_A, SPEC_PLAINTEXT);
    assertXksError(await a.metadata('no-such-key'), 404, 'KeyNotFoundException', 'metadata');
    assertXksError(await a.encrypt('no-such-key', { plaintext: SPEC_PLAINTEXT }), 404, 'KeyNotFoundException', 'encrypt');
    assertXksError(await a.decrypt('no-such-key', decryptFields(s)), 404, 'KeyNotFoundException', 'decrypt');
  });

  test('a key of another uriPath is not found under this one', async () => {
    assertOk(await b.metadata(KEY_B), 'key-b under its own path');
    assertXksError(await a.metadata(KEY_B), 404, 'KeyNotFoundException', 'key-b under path A');
    assertXksError(await a.encrypt(KEY_B, { plaintext: SPEC_PLAINTEXT }), 404, 'KeyNotFoundException', 'encrypt key-b under path A');
    assertXksError(await b.metadata(KEY_A), 404, 'KeyNotFoundException', 'key-a under path B');
    assertXksError(await root.metadata(KEY_A), 404, 'KeyNotFoundException', 'key-a under /kms/xks/v1');
  });
});

describe('InvalidStateException (400): a disabled key', () => {
  test('encrypt and decrypt refuse, metadata answers DISABLED, enabling restores both', async () => {
    const s = await seal(a, TOGGLED, SPEC_PLAINTEXT, SPEC_AAD);
    assert.equal((await setXksKeyEnabled(server, TOGGLED, false)).KeyStatus, 'DISABLED');
    try {
      assertXksError(await a.encrypt(TOGGLED, { plaintext: SPEC_PLAINTEXT }), 400, 'InvalidStateException', 'encrypt');
      assertXksError(await a.decrypt(TOGGLED, decryptFields(s, SPEC_AAD)), 400, 'InvalidStateException', 'decrypt');
      const md = assertOk(await a.metadata(TOGGLED), 'metadata of a disabled key');
      assert.equal(md.keyStatus, 'DISABLED');
      assert.equal(md.keySpec, 'AES_256');
    } finally {
      await setXksKeyEnabled(server, TOGGLED, true);
    }
    assert.equal(assertOk(await a.metadata(TOGGLED)).keyStatus, 'ENABLED');
    assert.equal(await open(a, TOGGLED, s, SPEC_AAD), SPEC_PLAINTEXT);
  });
});

describe('InvalidKeyUsageException (400)', () => {
  test('an encrypt-only key asked to decrypt', async () => {
    assert.deepEqual(assertOk(await a.metadata(ENCRYPT_ONLY)).keyUsage, ['ENCRYPT']);
    const s = await seal(a, ENCRYPT_ONLY, SPEC_PLAINTEXT, SPEC_AAD);
    assertXksError(await a.decrypt(ENCRYPT_ONLY, decryptFields(s, SPEC_AAD)), 400, 'InvalidKeyUsageException', 'decrypt');
  });

  test('a decrypt-only key asked to encrypt', async () => {
    assert.deepEqual(assertOk(await a.metadata(DECRYPT_ONLY)).keyUsage, ['DECRYPT']);
    assertXksError(await a.encrypt(DECRYPT_ONLY, { plaintext: SPEC_PLAINTEXT }), 400, 'InvalidKeyUsageException', 'encrypt');
    // And decrypt is allowed in principle: garbage fails on the ciphertext, not on usage.
    const garbage = { ciphertext: randomBytes(12).toString('base64'), initializationVector: randomBytes(12).toString('base64'), authenticationTag: randomBytes(16).toString('base64') };
    assertXksError(await a.decrypt(DECRYPT_ONLY, garbage), 400, 'InvalidCiphertextException', 'decrypt of garbage');
  });
});

describe('InvalidCiphertextException (400)', () => {
  test('tampered ciphertext, tag, IV, AAD or ciphertextMetadata, and another key', async () => {
    const plaintext = randomBytes(40).toString('base64');
    const s = await seal(a, KEY_A, plaintext, SPEC_AAD);
    const good = decryptFields(s, SPEC_AAD);
    const bad = async (fields: Record<string, unknown>, what: string, keyId = KEY_A) =>
      assertXksError(await a.decrypt(keyId, fields), 400, 'InvalidCiphertextException', what);

    await bad({ ...good, ciphertext: flip(s.ciphertext, 0) }, 'ciphertext first byte');
    await bad({ ...good, ciphertext: flip(s.ciphertext, 39) }, 'ciphertext last byte');
    await bad({ ...good, ciphertext: Buffer.from(s.ciphertext, 'base64').subarray(0, 39).toString('base64') }, 'ciphertext truncated');
    await bad({ ...good, authenticationTag: flip(s.authenticationTag, 15) }, 'tag');
    await bad({ ...good, initializationVector: flip(s.initializationVector, 5) }, 'IV');
    await bad({ ...good, additionalAuthenticatedData: flip(SPEC_AAD, 3) }, 'AAD changed');
    const { additionalAuthenticatedData: _aad, ...noAad } = good;
    await bad(noAad, 'AAD left out');
    await bad({ ...good, additionalAuthenticatedData: Buffer.concat([Buffer.from(SPEC_AAD, 'base64'), Buffer.from('x')]).toString('base64') }, 'AAD extended');
    if (s.ciphertextMetadata === undefined) {
      await bad({ ...good, ciphertextMetadata: 'a2V5X3ZlcnNpb249MQ==' }, 'ciphertextMetadata added');
    } else {
      await bad({ ...good, ciphertextMetadata: flip(s.ciphertextMetadata) }, 'ciphertextMetadata changed');
      const { ciphertextMetadata: _md, ...noMd } = good;
      await bad(noMd, 'ciphertextMetadata left out');
    }
    await bad(good, 'another key of the same path', KEY_A2);
    // The untouched fields still decrypt.
    assert.equal(await open(a, KEY_A, s, SPEC_AAD), plaintext);
  });

  test('AAD added to a ciphertext made without AAD; metadata passed as AAD (spec Encrypt NOTE)', async () => {
    const s = await seal(a, KEY_A, SPEC_PLAINTEXT);
    const good = decryptFields(s);
    assertXksError(await a.decrypt(KEY_A, { ...good, additionalAuthenticatedData: SPEC_AAD }), 400, 'InvalidCiphertextException', 'AAD added');
    if (s.ciphertextMetadata !== undefined) {
      const { ciphertextMetadata: md, ...rest } = good;
      assertXksError(await a.decrypt(KEY_A, { ...rest, additionalAuthenticatedData: md }), 400, 'InvalidCiphertextException', 'metadata moved into AAD');
    }
    assert.equal(await open(a, KEY_A, s), SPEC_PLAINTEXT);
  });
});

describe('limits and leniency the spec requires', () => {
  test('4300 bytes of plaintext with 8192 bytes of AAD round-trip, with a CDIV', async () => {
    const plaintext = randomBytes(4300).toString('base64');
    const aad = randomBytes(8192).toString('base64');
    assert.equal(plaintext.length, 5736); // the spec says "5737 bytes"; padded base64 of 4300 bytes is 5736 characters
    assert.equal(aad.length, 10924);
    const s = await seal(a, KEY_A, plaintext, aad, { ciphertextDataIntegrityValueAlgorithm: 'SHA_256' });
    assert.equal(Buffer.from(s.ciphertext, 'base64').length, 4300);
    assert.equal(
      s.ciphertextDataIntegrityValue,
      cdivOf({
        aad: Buffer.from(aad, 'base64'),
        ...(s.ciphertextMetadata === undefined ? {} : { metadata: Buffer.from(s.ciphertextMetadata, 'base64') }),
        iv: Buffer.from(s.initializationVector, 'base64'),
        ciphertext: Buffer.from(s.ciphertext, 'base64'),
        tag: Buffer.from(s.authenticationTag, 'base64'),
      }),
    );
    assert.equal(await open(a, KEY_A, s, aad), plaintext);
  });

  test('2048-character ARNs are accepted on every operation', async () => {
    const principal = `arn:aws:iam::123456789012:role/${'r'.repeat(2048 - 'arn:aws:iam::123456789012:role/'.length)}`;
    const keyArn = `arn:aws:kms:us-east-2:123456789012:key/${'k'.repeat(2048 - 'arn:aws:kms:us-east-2:123456789012:key/'.length)}`;
    assert.equal(principal.length, 2048);
    assert.equal(keyArn.length, 2048);
    const md = (op: string) => keyRequestMetadata(op, { awsPrincipalArn: principal, kmsKeyArn: keyArn });
    assertOk(await a.metadata(KEY_A, { requestMetadata: md('DescribeKey') }), 'metadata');
    const s = assertOk(await a.encrypt(KEY_A, { requestMetadata: md('Encrypt'), plaintext: SPEC_PLAINTEXT }), 'encrypt');
    const out = assertOk(await a.decrypt(KEY_A, { requestMetadata: md('Decrypt'), ...decryptFields(s) }), 'decrypt');
    assert.equal(out.plaintext, SPEC_PLAINTEXT);
  });

  test('unknown kmsOperation values, opaque kmsRequestIds, "AWS Internal", optional and future fields are accepted', async () => {
    const md = (op: string) =>
      keyRequestMetadata(op, {
        kmsRequestId: 'not-a-uuid: opaque / 12345',
        awsPrincipalArn: 'AWS Internal',
        awsSourceVpc: 'vpc-0123456789abcdef0',
        awsSourceVpce: 'vpce-0123456789abcdef0',
        kmsViaService: 'ebs',
        kmsRecipientAttestationImageSha384: 'a'.repeat(96), // Appendix B: KMS may add fields
      });
    assertOk(await a.metadata(KEY_A, { requestMetadata: md('BulkDescribeKey') }), 'metadata');
    const s = assertOk(await a.encrypt(KEY_A, { requestMetadata: md('BulkEncrypt'), plaintext: SPEC_PLAINTEXT }), 'encrypt');
    const out = assertOk(await a.decrypt(KEY_A, { requestMetadata: md('BulkDecrypt'), ...decryptFields(s) }), 'decrypt');
    assert.equal(out.plaintext, SPEC_PLAINTEXT);
    for (const op of ['GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncrypt']) {
      assertOk(await a.encrypt(KEY_A, { requestMetadata: keyRequestMetadata(op), plaintext: SPEC_PLAINTEXT }), `encrypt for ${op}`);
    }
  });

  test('a 128-character externalKeyId of [A-Za-z0-9._-] works', async () => {
    assert.equal(LONG_KEY.length, 128);
    assertOk(await a.metadata(LONG_KEY), 'metadata');
    const s = await seal(a, LONG_KEY, SPEC_PLAINTEXT, SPEC_AAD);
    assert.equal(await open(a, LONG_KEY, s, SPEC_AAD), SPEC_PLAINTEXT);
  });
});

describe('audit trail (spec "Logging")', () => {
  type Rec = { eventSource: string; eventName: string; requestParameters: any; errorCode?: string };
  const recordsOf = async (kmsRequestId: string): Promise<Rec[]> => {
    let found: Rec[] = [];
    await until(async () => (found = await auditRecordsWhere<Rec>(server.dataDir, '$.requestParameters.requestMetadata.kmsRequestId', kmsRequestId)).length > 0, 5_000, `an audit record for ${kmsRequestId}`);
    return found;
  };

  test('every operation is recorded with eventSource xks-proxy.keybridge and its requestMetadata', async () => {
    const ids = { metadata: randomUUID(), encrypt: randomUUID(), decrypt: randomUUID(), health: randomUUID(), notFound: randomUUID() };
    assertOk(await a.metadata(KEY_A, { requestMetadata: keyRequestMetadata('DescribeKey', { kmsRequestId: ids.metadata }) }));
    const s = assertOk(await a.encrypt(KEY_A, { requestMetadata: keyRequestMetadata('Encrypt', { kmsRequestId: ids.encrypt }), plaintext: SPEC_PLAINTEXT }));
    assertOk(await a.decrypt(KEY_A, { requestMetadata: keyRequestMetadata('Decrypt', { kmsRequestId: ids.decrypt }), ...decryptFields(s) }));
    assertOk(await a.health({ requestMetadata: { kmsRequestId: ids.health, kmsOperation: 'KmsHealthCheck' } }));
    assertXksError(
      await a.encrypt('no-such-key', { requestMetadata: keyRequestMetadata('Encrypt', { kmsRequestId: ids.notFound }), plaintext: SPEC_PLAINTEXT }),
      404, 'KeyNotFoundException',
    );

    const expected: [string, string, string][] = [
      [ids.metadata, 'GetKeyMetadata', 'DescribeKey'],
      [ids.encrypt, 'Encrypt', 'Encrypt'],
      [ids.decrypt, 'Decrypt', 'Decrypt'],
      [ids.health, 'GetHealthStatus', 'KmsHealthCheck'],
      [ids.notFound, 'Encrypt', 'Encrypt'],
    ];
    for (const [id, eventName, kmsOperation] of expected) {
      const records = (await recordsOf(id)).filter((r) => r.eventSource === 'xks-proxy.keybridge');
      assert.ok(records.length >= 1, `no xks-proxy.keybridge record for ${eventName} ${id}`);
      const rec = records[records.length - 1]!;
      assert.equal(rec.eventName, eventName, id);
      assert.equal(rec.requestParameters.requestMetadata.kmsRequestId, id);
      assert.equal(rec.requestParameters.requestMetadata.kmsOperation, kmsOperation);
    }
  });

  test('no plaintext, raw, base64 or hex, in audit.db or the log (spec: plaintext MUST NOT be logged)', async () => {
    const secret = randomBytes(48);
    const plaintext = secret.toString('base64');
    const id = randomUUID();
    const s = await seal(a, KEY_A, plaintext, SPEC_AAD);
    assert.equal(await open(a, KEY_A, s, SPEC_AAD), plaintext);
    // Failed calls carry plaintext too.
    assertXksError(await a.encrypt('no-such-key', { requestMetadata: keyRequestMetadata('Encrypt', { kmsRequestId: id }), plaintext }), 404, 'KeyNotFoundException');
    assertXksError(await a.encrypt(DECRYPT_ONLY, { plaintext }), 400, 'InvalidKeyUsageException');
    await recordsOf(id);

    const files = ['audit.db', 'audit.db-wal', 'keybridge.log'].map((f) => join(server.dataDir, f)).filter(existsSync);
    assert.ok(files.some((f) => f.endsWith('audit.db')), 'audit.db exists');
    const needles = [secret, Buffer.from(plaintext), Buffer.from(plaintext.slice(4, -4)), Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('base64url'))];
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const needle of needles) assert.equal(bytes.includes(needle), false, `plaintext (${needle.length} bytes) found in ${file}`);
    }
  });
});

describe('metrics', () => {
  test('GET /metrics on the KMS listener counts proxy requests by operation and outcome', async () => {
    assertOk(await a.encrypt(KEY_A, { plaintext: SPEC_PLAINTEXT }));
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^keybridge_xks_requests_total\{[^}]*operation="Encrypt"[^}]*\} [1-9]\d*$/m);
    assert.match(text, /^keybridge_xks_requests_total\{[^}]*outcome="[^"]+"[^}]*\} \d+$/m);
  });
});
