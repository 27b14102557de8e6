import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { describe, test } from 'node:test';
import { EncryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { SigV4Verifier, formatAmzDate, parseAmzDate } from '../../src/auth/sigv4-verifier.js';
import { StaticCredentials } from '../../src/auth/static-credentials.js';
import { KmsError, type KmsErrorName } from '../../src/domain/errors.js';
import type { AccessKey, CredentialsProvider } from '../../src/ports/principals.js';
import {
  alter, boto3Skip, botocoreSign, captureJsSdkRequest, signatureOf, signedHeadersOf, smithySign, type SignedRequest,
} from './signing-clients.js';

const REGION = 'us-east-1';
const ENDPOINT = 'https://kms.keybridge.test:8443';
const HOST = 'kms.keybridge.test:8443';
const NOW = Date.UTC(2026, 10, 29, 7, 10, 0); // 20261129T071000Z
const AMZ_NOW = '20261129T071000Z';
/** The default of signatureMaxSkewMinutes, as AWS JSON services allow. */
const FIVE_MIN = 5 * 60_000;

const KEY: AccessKey = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  principal: {
    arn: 'arn:aws:iam::111122223333:user/keybridge-admin',
    accountId: '111122223333',
    type: 'IAMUser',
    userName: 'keybridge-admin',
  },
};
const CREDS = { accessKeyId: KEY.accessKeyId, secretAccessKey: KEY.secretAccessKey };

function verifier(opts: { now?: number; credentials?: CredentialsProvider } = {}): SigV4Verifier {
  return new SigV4Verifier({
    credentials: opts.credentials ?? new StaticCredentials([KEY]),
    region: REGION,
    service: 'kms',
    maxSkewMs: FIVE_MIN,
    now: () => opts.now ?? NOW,
  });
}

async function rejectsWith(
  promise: Promise<unknown>,
  kmsName: KmsErrorName,
  message: string | ((m: string) => boolean),
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KmsError, `expected a KmsError, got ${String(err)}`);
    assert.equal(err.kmsName, kmsName);
    assert.equal(err.status, 400);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.ok(message(err.message), `unexpected message: ${err.message}`);
    return true;
  });
}

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret ' +
  'Access Key and signing method. Consult the service documentation for details.';

const KMS_HEADERS = {
  host: HOST,
  'content-type': 'application/x-amz-json-1.1',
  'x-amz-target': 'TrentService.ListKeys',
};
const BODY = Buffer.from('{"Limit":10}');

function jsSdkEncrypt(nowMs = NOW): Promise<SignedRequest> {
  return captureJsSdkRequest({
    creds: CREDS,
    region: REGION,
    endpoint: ENDPOINT,
    nowMs,
    call: (client) =>
      client.send(new EncryptCommand({ KeyId: 'alias/app', Plaintext: Buffer.from('attack at dawn') })),
  });
}

function botocoreListKeys(creds = CREDS, amzDate = AMZ_NOW): SignedRequest {
  return botocoreSign({
    creds,
    region: REGION,
    amzDate,
    url: `${ENDPOINT}/`,
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.ListKeys', 'User-Agent': 'Boto3/test' },
    body: BODY,
  });
}

function smithyListKeys(overrides: Partial<Parameters<typeof smithySign>[0]> = {}): Promise<SignedRequest> {
  return smithySign({ creds: CREDS, region: REGION, date: new Date(NOW), headers: { ...KMS_HEADERS }, body: BODY, ...overrides });
}

describe('SigV4Verifier with real client signatures', () => {
  test('a request signed by @aws-sdk/client-kms verifies and yields the access key', async () => {
    const req = await jsSdkEncrypt();
    // What the JS SDK signs (v3.11xx): everything it sends except user-agent, incl. the body hash.
    for (const name of ['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-target']) {
      assert.ok(signedHeadersOf(req).split(';').includes(name), `SDK signed ${signedHeadersOf(req)}`);
    }
    assert.equal(req.headers['x-amz-target'], 'TrentService.Encrypt');
    const key = await verifier().verify(req);
    assert.equal(key, KEY);
    assert.equal(key.principal.arn, 'arn:aws:iam::111122223333:user/keybridge-admin');
  });

  test('a ListKeys request from the JS SDK verifies', async () => {
    const req = await captureJsSdkRequest({
      creds: CREDS, region: REGION, endpoint: ENDPOINT, nowMs: NOW, call: (c) => c.send(new ListKeysCommand({})),
    });
    assert.equal((await verifier().verify(req)).accessKeyId, KEY.accessKeyId);
  });

  test('a request signed by botocore (boto3, AWS CLI) verifies', { skip: boto3Skip }, async () => {
    const req = botocoreListKeys();
    // botocore signs far fewer headers than the JS SDK, and no body-hash header.
    assert.equal(signedHeadersOf(req), 'content-type;host;x-amz-date;x-amz-target');
    assert.equal(req.headers['x-amz-content-sha256'], undefined);
    assert.equal(await verifier().verify(req), KEY);
  });

  test('a tampered body is rejected (the JS SDK signs x-amz-content-sha256)', async () => {
    const js = await jsSdkEncrypt();
    await rejectsWith(verifier().verify(alter(js, {}, Buffer.from(js.body.toString().replace('alias/app', 'alias/ops')))), 'InvalidSignatureException', MISMATCH);
  });

  test('a tampered body is rejected (botocore signs no body-hash header)', { skip: boto3Skip }, async () => {
    const boto = botocoreListKeys();
    await rejectsWith(verifier().verify(alter(boto, {}, Buffer.from('{"Limit":11}'))), 'InvalidSignatureException', MISMATCH);
  });

  test('an unsigned x-amz-content-sha256 cannot vouch for a tampered body', { skip: boto3Skip }, async () => {
    const boto = botocoreListKeys();
    const forged = Buffer.from('{"Limit":11}');
    const forgedHash = crypto.createHash('sha256').update(forged).digest('hex');
    await rejectsWith(
      verifier().verify(alter(boto, { 'x-amz-content-sha256': forgedHash }, forged)),
      'InvalidSignatureException', MISMATCH,
    );
    // ...and a wrong unsigned one does not break an honest request.
    assert.equal(await verifier().verify(alter(boto, { 'x-amz-content-sha256': forgedHash })), KEY);
  });

  test('a tampered X-Amz-Target is rejected (JS SDK)', async () => {
    const js = await jsSdkEncrypt();
    await rejectsWith(verifier().verify(alter(js, { 'x-amz-target': 'TrentService.Decrypt' })), 'InvalidSignatureException', MISMATCH);
  });

  test('a tampered X-Amz-Target is rejected (botocore)', { skip: boto3Skip }, async () => {
    const boto = botocoreListKeys();
    await rejectsWith(verifier().verify(alter(boto, { 'x-amz-target': 'TrentService.ScheduleKeyDeletion' })), 'InvalidSignatureException', MISMATCH);
  });

  test('changing or adding headers the client did not sign keeps the request valid (JS SDK)', async () => {
    const js = await jsSdkEncrypt();
    assert.ok(!signedHeadersOf(js).split(';').includes('user-agent'));
    assert.equal(await verifier().verify(alter(js, { 'user-agent': 'something-else/1.0', 'x-forwarded-for': '10.0.0.1' })), KEY);
  });

  test('changing or adding headers the client did not sign keeps the request valid (botocore)', { skip: boto3Skip }, async () => {
    const boto = botocoreListKeys();
    // boto3 adds amz-sdk-invocation-id and amz-sdk-request after signing; the JS SDK signs them.
    assert.equal(
      await verifier().verify(alter(boto, { 'user-agent': 'aws-cli/2', 'amz-sdk-invocation-id': 'x', 'amz-sdk-request': 'attempt=2' })),
      KEY,
    );
  });

  test('the wrong secret is rejected', { skip: boto3Skip }, async () => {
    const req = botocoreListKeys({ accessKeyId: KEY.accessKeyId, secretAccessKey: 'not-the-secret' });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException', MISMATCH);
  });
});

describe('SigV4Verifier header sets and canonical details', () => {
  test('a normally unsignable header the client signed (user-agent) is included', async () => {
    const req = await smithyListKeys({
      headers: { ...KMS_HEADERS, 'user-agent': 'custom/1.0' },
      signableHeaders: new Set(['user-agent']),
    });
    assert.ok(signedHeadersOf(req).split(';').includes('user-agent'));
    assert.equal(await verifier().verify(req), KEY);
    await rejectsWith(verifier().verify(alter(req, { 'user-agent': 'custom/2.0' })), 'InvalidSignatureException', MISMATCH);
  });

  test('a minimal request signing only host and x-amz-date verifies when it carries no X-Amz-Target', async () => {
    const req = await smithyListKeys({ headers: { host: HOST } });
    assert.equal(signedHeadersOf(req), 'host;x-amz-date');
    assert.equal(await verifier().verify(req), KEY);
  });

  test('query string and path take part in the signature', async () => {
    // SDKs hold the path percent-encoded, as it goes on the wire, and escape it once more for the
    // canonical request; the verifier gets the raw path as received.
    const req = await smithyListKeys({ method: 'GET', path: '/a%20b/c', query: { b: '2', a: 'x y/z' }, body: Buffer.alloc(0) });
    assert.equal(req.query, 'b=2&a=x%20y%2Fz');
    assert.equal(await verifier().verify(req), KEY);
    await rejectsWith(verifier().verify({ ...req, query: 'a=x%20y%2Fz&b=3' }), 'InvalidSignatureException', MISMATCH);
    await rejectsWith(verifier().verify({ ...req, path: '/a%20b/d' }), 'InvalidSignatureException', MISMATCH);
    await rejectsWith(verifier().verify({ ...req, method: 'POST' }), 'InvalidSignatureException', MISMATCH);
  });

  test('a signed x-amz-content-sha256 must be the hash of the body (UNSIGNED-PAYLOAD is refused)', async () => {
    const honest = await smithyListKeys({ applyChecksum: true });
    assert.ok(signedHeadersOf(honest).split(';').includes('x-amz-content-sha256'));
    assert.equal(await verifier().verify(honest), KEY);
    const unsigned = await smithyListKeys({ headers: { ...KMS_HEADERS, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    assert.ok(signedHeadersOf(unsigned).split(';').includes('x-amz-content-sha256'));
    await rejectsWith(verifier().verify(unsigned), 'InvalidSignatureException', MISMATCH);
  });

  test('repeated header values (as arrays) are comma-joined', async () => {
    const req = await smithyListKeys({ headers: { ...KMS_HEADERS, 'x-custom': 'a,b' } });
    assert.equal(await verifier().verify({ ...req, headers: { ...req.headers, 'x-custom': ['a', 'b'] } }), KEY);
  });

  test('signed header names that collide with Object.prototype do not crash', async () => {
    const req = await smithyListKeys();
    const auth = req.headers.authorization!.replace('SignedHeaders=', 'SignedHeaders=__proto__;constructor;');
    await rejectsWith(verifier().verify(alter(req, { authorization: auth })), 'InvalidSignatureException', MISMATCH);
  });

  test('a signature that is not 64 hex digits is a mismatch', async () => {
    const req = await smithyListKeys();
    const sig = signatureOf(req);
    for (const bad of [sig.slice(0, 63), `${sig}0`, `${sig.slice(0, 63)}g`, '']) {
      const auth = req.headers.authorization!.replace(sig, bad);
      const expected = bad === '' ? 'IncompleteSignatureException' : 'InvalidSignatureException';
      await rejectsWith(verifier().verify(alter(req, { authorization: auth })), expected, (m) => !m.includes(sig));
    }
    // Upper-case hex is the same signature.
    const upper = req.headers.authorization!.replace(sig, sig.toUpperCase());
    assert.equal(await verifier().verify(alter(req, { authorization: upper })), KEY);
  });

  test('comparison uses crypto.timingSafeEqual on the 32-byte signatures', async (t) => {
    const req = await smithyListKeys();
    const spy = t.mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports(); // make the named import in the verifier see the spy
    try {
      assert.equal(await verifier().verify(req), KEY);
      assert.equal(spy.mock.callCount(), 1);
      const [a, b] = spy.mock.calls[0]!.arguments as unknown as [Buffer, Buffer];
      assert.equal(a.length, 32);
      assert.equal(b.length, 32);
      assert.equal(spy.mock.calls[0]!.result, true);

      const sig = signatureOf(req);
      const flipped = sig.slice(0, 63) + (sig.endsWith('0') ? '1' : '0');
      await rejectsWith(
        verifier().verify(alter(req, { authorization: req.headers.authorization!.replace(sig, flipped) })),
        'InvalidSignatureException', MISMATCH,
      );
      assert.equal(spy.mock.callCount(), 2);
      assert.equal(spy.mock.calls[1]!.result, false);
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  });

  test('a rotated secret replaces the cached signer', async () => {
    let current: AccessKey = KEY;
    const v = verifier({ credentials: { lookup: (id) => (id === current.accessKeyId ? current : undefined) } });
    const oldReq = await smithyListKeys();
    assert.equal(await v.verify(oldReq), KEY);
    current = { ...KEY, secretAccessKey: 'rotated-secret' };
    await rejectsWith(v.verify(oldReq), 'InvalidSignatureException', MISMATCH);
    const newReq = await smithyListKeys({ creds: { accessKeyId: KEY.accessKeyId, secretAccessKey: 'rotated-secret' } });
    assert.equal(await v.verify(newReq), current);
  });
});

describe('SigV4Verifier errors', () => {
  test('no Authorization header → MissingAuthenticationTokenException', async () => {
    const req = await smithyListKeys();
    await rejectsWith(verifier().verify(alter(req, { authorization: undefined })), 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    await rejectsWith(verifier().verify(alter(req, { authorization: '  ' })), 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  });

  test('each missing part is named, AWS style, and the signature is never echoed', async () => {
    const req = await smithyListKeys();
    const sig = signatureOf(req);
    const credential = `${KEY.accessKeyId}/20261129/${REGION}/kms/aws4_request`;

    await rejectsWith(
      verifier().verify(alter(req, { authorization: `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date` })),
      'IncompleteSignatureException',
      `Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=host;x-amz-date`,
    );
    await rejectsWith(
      verifier().verify(alter(req, { authorization: `AWS4-HMAC-SHA256 Signature=${sig}` })),
      'IncompleteSignatureException',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'SignedHeaders' parameter. " +
        'Authorization=AWS4-HMAC-SHA256 Signature=<redacted>',
    );
    await rejectsWith(
      verifier().verify(alter(req, { authorization: `AWS4-HMAC-SHA256 Credential=${credential},SignedHeaders=,Signature=${sig}` })),
      'IncompleteSignatureException',
      `Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=${credential},SignedHeaders=,Signature=<redacted>`,
    );
    await rejectsWith(
      verifier().verify(alter(req, { 'x-amz-date': undefined })),
      'IncompleteSignatureException',
      (m) =>
        m.startsWith("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=") &&
        !m.includes(sig),
    );
    await rejectsWith(
      verifier().verify(alter(req, { authorization: 'AWS4-HMAC-SHA256' })),
      'IncompleteSignatureException',
      "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
        "Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256",
    );
  });

  test('a malformed Authorization header → IncompleteSignatureException without echoing it', async () => {
    const req = await smithyListKeys();
    const sig = signatureOf(req);
    const auth = req.headers.authorization!.replace(`Signature=${sig}`, `Signature ${sig}`);
    await rejectsWith(verifier().verify(alter(req, { authorization: auth })), 'IncompleteSignatureException', (m) =>
      m.startsWith('Invalid key=value pair (missing equal-sign) in Authorization header') && !m.includes(sig));
  });

  test('an unsupported algorithm → IncompleteSignatureException', async () => {
    const req = await smithyListKeys();
    const sha512 = req.headers.authorization!.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512');
    await rejectsWith(verifier().verify(alter(req, { authorization: sha512 })), 'IncompleteSignatureException',
      "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ");
    await rejectsWith(verifier().verify(alter(req, { authorization: 'Bearer s3cr3t-token' })), 'IncompleteSignatureException',
      "Unsupported AWS 'algorithm': 'Bearer' (only AWS4-HMAC-SHA256 for now). ");
    // A bare token might be a secret: not echoed.
    await rejectsWith(verifier().verify(alter(req, { authorization: 's3cr3t-token' })), 'IncompleteSignatureException',
      "Unsupported AWS 'algorithm': (only AWS4-HMAC-SHA256 for now). ");
  });

  test('X-Amz-Date not in ISO-8601 basic format → IncompleteSignatureException', async () => {
    const req = await smithyListKeys();
    for (const bad of ['2026-11-29T07:10:00Z', '20261129T071000', '20261131T071000Z', '20261129T071060Z', '20261129t071000Z']) {
      await rejectsWith(verifier().verify(alter(req, { 'x-amz-date': bad })), 'IncompleteSignatureException',
        `Date must be in ISO-8601 'basic format'. Got '${bad}'. See http://en.wikipedia.org/wiki/ISO_8601`);
    }
  });

  test('a credential without 5 elements → IncompleteSignatureException', async () => {
    const req = await smithyListKeys();
    const auth = req.headers.authorization!.replace('/aws4_request', '');
    await rejectsWith(verifier().verify(alter(req, { authorization: auth })), 'IncompleteSignatureException',
      `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${KEY.accessKeyId}/20261129/${REGION}/kms'`);
  });

  test('an unknown access key → UnrecognizedClientException', async () => {
    const req = await smithyListKeys({ creds: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' } });
    await rejectsWith(verifier().verify(req), 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  test('a session token (we issue none) → UnrecognizedClientException', async () => {
    const req = await smithySign({
      creds: { ...CREDS, sessionToken: 'FwoGZXIvYXdzE' } as typeof CREDS, region: REGION, date: new Date(NOW), headers: { ...KMS_HEADERS }, body: BODY,
    });
    assert.ok(signedHeadersOf(req).split(';').includes('x-amz-security-token'));
    await rejectsWith(verifier().verify(req), 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  });

  test('a credential scoped to another region → InvalidSignatureException', async () => {
    const req = await smithySign({ creds: CREDS, region: 'eu-west-1', date: new Date(NOW), headers: { ...KMS_HEADERS }, body: BODY });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException', 'Credential should be scoped to a valid region. ');
  });

  test('a credential scoped to another service → InvalidSignatureException', async () => {
    const req = await smithyListKeys({ service: 'dynamodb' });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException', "Credential should be scoped to correct service: 'kms'. ");
  });

  test('region and service both wrong: both named in one message', async () => {
    const req = await smithySign({ creds: CREDS, region: 'eu-west-1', service: 's3', date: new Date(NOW), headers: { ...KMS_HEADERS }, body: BODY });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException',
      "Credential should be scoped to a valid region. Credential should be scoped to correct service: 'kms'. ");
  });

  test('a bad terminator or a scope date other than X-Amz-Date\'s day → InvalidSignatureException', async () => {
    const req = await smithyListKeys();
    await rejectsWith(verifier().verify(alter(req, { authorization: req.headers.authorization!.replace('aws4_request', 'aws5_request') })),
      'InvalidSignatureException', "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ");
    await rejectsWith(verifier().verify(alter(req, { authorization: req.headers.authorization!.replace('/20261129/', '/20261128/') })),
      'InvalidSignatureException',
      "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261128' != '20261129', from '20261129T071000Z'.");
  });

  test('X-Amz-Date too far in the past → "Signature expired"', async () => {
    const req = await smithySign({ creds: CREDS, region: REGION, date: new Date(Date.UTC(2026, 10, 29, 7, 0, 0)), headers: { ...KMS_HEADERS }, body: BODY });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException',
      'Signature expired: 20261129T070000Z is now earlier than 20261129T070500Z (20261129T071000Z - 5 min.)');
  });

  test('X-Amz-Date too far in the future → "Signature not yet current"', async () => {
    const req = await smithySign({ creds: CREDS, region: REGION, date: new Date(Date.UTC(2026, 10, 29, 7, 20, 0)), headers: { ...KMS_HEADERS }, body: BODY });
    await rejectsWith(verifier().verify(req), 'InvalidSignatureException',
      'Signature not yet current: 20261129T072000Z is still later than 20261129T071500Z (20261129T071000Z + 5 min.)');
  });

  test('a 5-minute skew: 4 minutes off either way is accepted, 6 minutes is refused', async () => {
    const at = (offsetMs: number) => smithySign({ creds: CREDS, region: REGION, date: new Date(NOW + offsetMs), headers: { ...KMS_HEADERS }, body: BODY });
    assert.equal(await verifier().verify(await at(-4 * 60_000)), KEY);
    assert.equal(await verifier().verify(await at(4 * 60_000)), KEY);
    await rejectsWith(verifier().verify(await at(-6 * 60_000)), 'InvalidSignatureException', (m) => m.startsWith('Signature expired: '));
    await rejectsWith(verifier().verify(await at(6 * 60_000)), 'InvalidSignatureException', (m) => m.startsWith('Signature not yet current: '));
  });

  test('exactly maxSkew away on either side is still accepted', async () => {
    const past = await smithySign({ creds: CREDS, region: REGION, date: new Date(NOW - FIVE_MIN), headers: { ...KMS_HEADERS }, body: BODY });
    const future = await smithySign({ creds: CREDS, region: REGION, date: new Date(NOW + FIVE_MIN), headers: { ...KMS_HEADERS }, body: BODY });
    assert.equal(await verifier().verify(past), KEY);
    assert.equal(await verifier().verify(future), KEY);
    await rejectsWith(verifier({ now: NOW + 1 }).verify(past), 'InvalidSignatureException', (m) => m.startsWith('Signature expired: '));
  });

  test('host not among the signed headers → IncompleteSignatureException', async () => {
    const signed = await smithyListKeys({ headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' } });
    assert.equal(signedHeadersOf(signed), 'content-type;x-amz-date;x-amz-target');
    await rejectsWith(verifier().verify(alter(signed, { host: HOST })), 'IncompleteSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  });

  test('x-amz-date not among the signed headers → IncompleteSignatureException', async () => {
    const req = await smithyListKeys();
    const auth = req.headers.authorization!.replace(';x-amz-date', '');
    await rejectsWith(verifier().verify(alter(req, { authorization: auth })), 'IncompleteSignatureException',
      "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  });

  test('X-Amz-Target present but not signed → IncompleteSignatureException naming it', async () => {
    const TARGET_UNSIGNED = "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.";
    // Signed over host and x-amz-date only, the X-Amz-Target sent along unsigned...
    const minimal = await smithyListKeys({ headers: { host: HOST, 'content-type': 'application/x-amz-json-1.1' }, unsignableHeaders: new Set(['content-type']) });
    assert.equal(signedHeadersOf(minimal), 'host;x-amz-date');
    for (const target of ['TrentService.Encrypt', 'TrentService.ScheduleKeyDeletion', '']) {
      await rejectsWith(verifier().verify(alter(minimal, { 'x-amz-target': target })), 'IncompleteSignatureException', TARGET_UNSIGNED);
    }
    // ...or repeated, or signed by a client that left it out while signing others.
    await rejectsWith(verifier().verify({ ...minimal, headers: { ...minimal.headers, 'x-amz-target': ['TrentService.Encrypt', 'x'] } }),
      'IncompleteSignatureException', TARGET_UNSIGNED);
    const noTarget = await smithyListKeys({ unsignableHeaders: new Set(['x-amz-target']) });
    assert.equal(signedHeadersOf(noTarget), 'content-type;host;x-amz-date');
    assert.equal(noTarget.headers['x-amz-target'], 'TrentService.ListKeys');
    await rejectsWith(verifier().verify(noTarget), 'IncompleteSignatureException', TARGET_UNSIGNED);
  });

  test('a signature mismatch → InvalidSignatureException', async () => {
    const req = await smithyListKeys();
    await rejectsWith(verifier().verify(alter(req, { 'content-type': 'application/json' })), 'InvalidSignatureException', MISMATCH);
  });
});

describe('X-Amz-Date helpers', () => {
  test('parse and format are inverse on valid dates and strict otherwise', () => {
    assert.equal(parseAmzDate(AMZ_NOW), NOW);
    assert.equal(formatAmzDate(NOW + 999), AMZ_NOW);
    assert.equal(parseAmzDate('20240229T000000Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseAmzDate('20230229T000000Z'), undefined);
    assert.equal(parseAmzDate('00991129T071000Z'), undefined);
    assert.equal(parseAmzDate('2026112９T071000Z'), undefined);
    assert.equal(parseAmzDate('20261129T240000Z'), undefined);
  });
});
