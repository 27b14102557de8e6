// The AWS JSON 1.1 wire protocol over real HTTP (reference §3): headers, empty bodies, timestamps,
// the error shape and status, SigV4 failures, routing, body parsing and validation wording.
// No response in this file may be a 5xx or HTML: every response goes through `common()`.

import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KMS_ERRORS, type KmsErrorName } from '../../src/domain/errors.js';
import { rawRequest, type RawRequest, type RawResponse } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

const AMZ_JSON = 'application/x-amz-json-1.1';
const MAX_BODY_BYTES = 8192;

let server: TestServer;
const requestIds = new Set<string>();
let responses = 0;

before(async () => {
  server = await startServer({ settings: { maxBodyBytes: MAX_BODY_BYTES } });
});

after(async () => {
  await server?.destroy();
});

/** Checks every response must pass: no 5xx, no HTML, a fresh x-amzn-requestid. */
function common(res: RawResponse): RawResponse {
  responses++;
  assert.ok(res.status < 500, `unexpected ${res.status}: ${res.body}`);
  const type = String(res.headers['content-type'] ?? '');
  assert.ok(!/html/i.test(type), `HTML content type ${type}`);
  assert.ok(!/^\s*</.test(res.body), `HTML-looking body: ${res.body.slice(0, 200)}`);
  const id = res.headers['x-amzn-requestid'];
  assert.equal(typeof id, 'string', `x-amzn-requestid missing (status ${res.status}, body ${res.body})`);
  assert.match(id as string, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.ok(!requestIds.has(id as string), `request id ${String(id)} was reused`);
  requestIds.add(id as string);
  return res;
}

async function send(req: RawRequest): Promise<RawResponse> {
  return common(await rawRequest(server, req));
}

async function call(operation: string, body: unknown): Promise<RawResponse> {
  return send({ target: `TrentService.${operation}`, body: JSON.stringify(body) });
}

/** A 200 with a JSON object body; returns it. */
async function ok(operation: string, body: unknown): Promise<any> {
  const res = await call(operation, body);
  assert.equal(res.status, 200, `${operation}: ${res.status} ${res.body}`);
  assert.equal(res.headers['content-type'], AMZ_JSON);
  assert.equal(typeof res.json, 'object', `${operation}: body is not JSON: ${res.body}`);
  return res.json;
}

/** Asserts AWS's error shape, `type`, and the status (pinned and equal to the error table's). */
function expectError(res: RawResponse, type: KmsErrorName, status: number): string {
  assert.equal(res.status, status, `expected ${status} ${type}, got ${res.status}: ${res.body}`);
  assert.equal(res.headers['content-type'], AMZ_JSON);
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.body}`);
  assert.deepEqual(Object.keys(res.json).sort(), ['__type', 'message']);
  assert.equal(res.json.__type, type, res.body);
  assert.equal(typeof res.json.message, 'string');
  assert.ok(res.json.message.length > 0);
  assert.equal(res.headers['x-amzn-errortype'], type);
  // Two deliberate HTTP-level exceptions to the table: 404 for paths that are not POST /, and 431
  // for headers the HTTP parser refuses.
  if (status !== 404 && status !== 431) assert.equal(KMS_ERRORS[type], status, `the error table disagrees for ${type}`);
  return res.json.message as string;
}

/** A 200 with the empty body of an operation without output. */
async function done(operation: string, body: unknown): Promise<void> {
  const res = await call(operation, body);
  assert.equal(res.status, 200, `${operation}: ${res.status} ${res.body}`);
  assert.equal(res.body, '');
}

async function listKeyIds(): Promise<string[]> {
  const out = await ok('ListKeys', { Limit: 1000 });
  return out.Keys.map((k: { KeyId: string }) => k.KeyId).sort();
}

async function newKey(description = 'wire'): Promise<any> {
  return (await ok('CreateKey', { Description: description })).KeyMetadata;
}

describe('responses', () => {
  test('successful responses carry x-amzn-requestid and application/x-amz-json-1.1', async () => {
    const res = await call('ListKeys', {});
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], AMZ_JSON);
    assert.ok(Array.isArray(res.json.Keys));
    assert.equal(res.json.Truncated, false);
  });

  test('an empty request body counts as {}', async () => {
    const res = await send({ target: 'TrentService.ListKeys', body: '' });
    assert.equal(res.status, 200, res.body);
    assert.ok(Array.isArray(res.json.Keys));
  });

  test('operations without output return 200 with an empty body and still the JSON content type', async () => {
    const key = await newKey();
    const alias = `alias/wire-${randomBytes(4).toString('hex')}`;
    const other = await newKey('other');
    const calls: Array<[string, unknown]> = [
      ['DisableKey', { KeyId: key.KeyId }],
      ['EnableKey', { KeyId: key.KeyId }],
      ['UpdateKeyDescription', { KeyId: key.KeyId, Description: 'changed' }],
      ['TagResource', { KeyId: key.KeyId, Tags: [{ TagKey: 'k', TagValue: 'v' }] }],
      ['UntagResource', { KeyId: key.KeyId, TagKeys: ['k'] }],
      ['CreateAlias', { AliasName: alias, TargetKeyId: key.KeyId }],
      ['UpdateAlias', { AliasName: alias, TargetKeyId: other.KeyId }],
      ['DeleteAlias', { AliasName: alias }],
      ['PutKeyPolicy', { KeyId: key.KeyId, PolicyName: 'default', Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${server.accountId}:root` }, Action: 'kms:*', Resource: '*' }] }) }],
    ];
    for (const [operation, body] of calls) {
      const res = await call(operation, body);
      assert.equal(res.status, 200, `${operation}: ${res.body}`);
      assert.equal(res.body, '', `${operation} answered a body: ${res.body}`);
      assert.equal(res.headers['content-type'], AMZ_JSON, operation);
    }
    // The calls did what they say (so the empty bodies were not empty failures).
    const described = (await ok('DescribeKey', { KeyId: key.KeyId })).KeyMetadata;
    assert.equal(described.Description, 'changed');
    assert.equal(described.KeyState, 'Enabled');
  });

  test('timestamps are JSON numbers in epoch seconds', async () => {
    const t0 = Date.now() / 1000;
    const created = await newKey('timestamps');
    const t1 = Date.now() / 1000;
    for (const date of [created.CreationDate, (await ok('DescribeKey', { KeyId: created.KeyId })).KeyMetadata.CreationDate]) {
      assert.equal(typeof date, 'number');
      assert.ok(date >= Math.floor(t0) - 1 && date <= t1 + 1, `CreationDate ${date} is not epoch seconds near ${t0}`);
    }
    const alias = `alias/ts-${randomBytes(4).toString('hex')}`;
    await done('CreateAlias', { AliasName: alias, TargetKeyId: created.KeyId });
    const listed = (await ok('ListAliases', { KeyId: created.KeyId })).Aliases;
    assert.equal(listed.length, 1);
    for (const date of [listed[0].CreationDate, listed[0].LastUpdatedDate]) {
      assert.equal(typeof date, 'number');
      assert.ok(date >= Math.floor(t0) - 1 && date <= Date.now() / 1000 + 1, `alias date ${date}`);
    }
    const scheduled = await ok('ScheduleKeyDeletion', { KeyId: created.KeyId, PendingWindowInDays: 7 });
    assert.equal(typeof scheduled.DeletionDate, 'number');
    const sevenDays = 7 * 24 * 3600;
    assert.ok(Math.abs(scheduled.DeletionDate - (Date.now() / 1000 + sevenDays)) < 60, `DeletionDate ${scheduled.DeletionDate}`);
    assert.match((await call('DescribeKey', { KeyId: created.KeyId })).body, /"DeletionDate":\d+(\.\d+)?[,}]/);
  });

  test('unknown extra members are ignored, as newer SDKs may send them', async () => {
    const key = await newKey('extras');
    const enc = await ok('Encrypt', {
      KeyId: key.KeyId,
      Plaintext: Buffer.from('hello').toString('base64'),
      SomeFutureMember: { nested: [1, 2, { deep: true }] },
      AnotherOne: 'x',
    });
    assert.equal(enc.KeyId, key.Arn);
    const dec = await ok('Decrypt', { CiphertextBlob: enc.CiphertextBlob, NotInTheModel: 42 });
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'hello');
    const listed = await ok('ListKeys', { Limit: 1000, IncludeTheFuture: true });
    assert.ok(listed.Keys.some((k: { KeyId: string }) => k.KeyId === key.KeyId));
  });
});

describe('errors', () => {
  test('an error is {"__type","message"} with its status; NotFound is 400 as the live service sends it', async () => {
    const missing = randomUUID();
    const message = expectError(await call('DescribeKey', { KeyId: missing }), 'NotFoundException', 400);
    assert.equal(message, `Key 'arn:aws:kms:${server.region}:${server.accountId}:key/${missing}' does not exist`);
  });

  test('DisabledException and KMSInvalidStateException travel with their table status', async () => {
    const key = await newKey('states');
    await done('DisableKey', { KeyId: key.KeyId });
    const plaintext = Buffer.from('x').toString('base64');
    assert.equal(expectError(await call('Encrypt', { KeyId: key.KeyId, Plaintext: plaintext }), 'DisabledException', 400), `${key.Arn} is disabled.`);
    await ok('ScheduleKeyDeletion', { KeyId: key.KeyId, PendingWindowInDays: 7 });
    expectError(await call('Encrypt', { KeyId: key.KeyId, Plaintext: plaintext }), 'KMSInvalidStateException', 400);
  });

  test('DryRun succeeds as DryRunOperationException (412)', async () => {
    const key = await newKey('dry');
    expectError(await call('Encrypt', { KeyId: key.KeyId, Plaintext: Buffer.from('x').toString('base64'), DryRun: true }), 'DryRunOperationException', 412);
  });
});

describe('SigV4', () => {
  // Every failure below targets CreateKey with a valid body: none may create a key.
  let keysBefore: string[];
  before(async () => {
    keysBefore = await listKeyIds();
  });
  after(async () => {
    assert.deepEqual(await listKeyIds(), keysBefore, 'a request that failed authentication created a key');
  });
  const create = { target: 'TrentService.CreateKey', body: JSON.stringify({ Description: 'must not exist' }) };

  test('an unsigned request → 400 MissingAuthenticationTokenException', async () => {
    expectError(await send({ ...create, sign: false }), 'MissingAuthenticationTokenException', 400);
  });

  test('a malformed Authorization header → IncompleteSignatureException', async () => {
    for (const authorization of [
      'AWS4-HMAC-SHA256 garbage',
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/kms/aws4_request',
      'Bearer abc.def.ghi',
      'AWS4-HMAC-SHA256',
    ]) {
      const res = await send({ ...create, sign: false, headers: { authorization, 'x-amz-date': '20240101T000000Z' } });
      const message = expectError(res, 'IncompleteSignatureException', 400);
      assert.ok(!message.includes('abc.def.ghi'), 'a bearer token was echoed');
    }
  });

  test('an unknown access key → UnrecognizedClientException', async () => {
    const res = await send({ ...create, credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: server.credentials.secretAccessKey } });
    assert.equal(expectError(res, 'UnrecognizedClientException', 400), 'The security token included in the request is invalid.');
  });

  test('the wrong secret → InvalidSignatureException', async () => {
    const res = await send({ ...create, credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: `${server.credentials.secretAccessKey}x` } });
    const message = expectError(res, 'InvalidSignatureException', 400);
    assert.match(message, /signature we calculated does not match/);
  });

  test('a body changed after signing → InvalidSignatureException', async () => {
    // The signer trusts x-amz-content-sha256 as the payload hash: sign the hash of another body.
    const other = JSON.stringify({ Description: 'what was signed' });
    const res = await send({ ...create, headers: { 'x-amz-content-sha256': createHash('sha256').update(other).digest('hex') } });
    expectError(res, 'InvalidSignatureException', 400);
  });

  test('signed 20 minutes ago → InvalidSignatureException "Signature expired"', async () => {
    const res = await send({ ...create, signingDate: new Date(Date.now() - 20 * 60_000) });
    assert.match(expectError(res, 'InvalidSignatureException', 400), /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z/);
  });

  test('signed 20 minutes in the future → InvalidSignatureException "Signature not yet current"', async () => {
    const res = await send({ ...create, signingDate: new Date(Date.now() + 20 * 60_000) });
    assert.match(expectError(res, 'InvalidSignatureException', 400), /^Signature not yet current: \d{8}T\d{6}Z is still later than/);
  });

  test('a signature 2 minutes off is accepted (within the skew)', async () => {
    const res = await send({ target: 'TrentService.ListKeys', body: '{}', signingDate: new Date(Date.now() - 2 * 60_000) });
    assert.equal(res.status, 200, res.body);
  });

  test('the wrong region in the credential scope → InvalidSignatureException', async () => {
    const res = await send({ ...create, region: 'eu-west-3' });
    assert.match(expectError(res, 'InvalidSignatureException', 400), /Credential should be scoped to a valid region/);
  });
});

describe('routing', () => {
  test('no X-Amz-Target → UnknownOperationException', async () => {
    expectError(await send({ body: '{}' }), 'UnknownOperationException', 400);
  });

  test('TrentService.NoSuchOp and other unknown targets → UnknownOperationException', async () => {
    for (const target of ['TrentService.NoSuchOp', 'TrentService.', 'OtherService.ListKeys', 'ListKeys', 'TrentService.listkeys']) {
      expectError(await send({ target, body: '{}' }), 'UnknownOperationException', 400);
    }
  });

  test('GET / and POST /other → 404 JSON UnknownOperationException, never HTML', async () => {
    expectError(await send({ method: 'GET', path: '/', target: 'TrentService.ListKeys' }), 'UnknownOperationException', 404);
    expectError(await send({ method: 'GET', path: '/', sign: false }), 'UnknownOperationException', 404);
    expectError(await send({ path: '/other', target: 'TrentService.ListKeys', body: '{}' }), 'UnknownOperationException', 404);
    expectError(await send({ method: 'PUT', path: '/', target: 'TrentService.ListKeys', body: '{}' }), 'UnknownOperationException', 404);
    expectError(await send({ method: 'GET', path: '/favicon.ico', sign: false }), 'UnknownOperationException', 404);
  });

  test('/healthz and /readyz → 200', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await send({ method: 'GET', path, sign: false });
      assert.equal(res.status, 200, `${path}: ${res.body}`);
      assert.ok(['ok', 'ready'].includes(res.json.status), res.body);
    }
  });
});

describe('body parsing and validation', () => {
  test('malformed JSON, a JSON array, a string, a number, null → SerializationException', async () => {
    for (const body of ['{', '{"KeyId": }', '[]', '[{"KeyId":"x"}]', '"ListKeys"', '42', 'null', 'true', '{} {}', '\u0000\u0001', '{"a":1,}']) {
      expectError(await send({ target: 'TrentService.ListKeys', body }), 'SerializationException', 400);
    }
  });

  test('a member of the wrong type → SerializationException naming the member', async () => {
    assert.match(expectError(await call('ListKeys', { Limit: '5' }), 'SerializationException', 400), /'limit'/);
    assert.match(expectError(await call('DescribeKey', { KeyId: 12 }), 'SerializationException', 400), /'keyId'/);
    assert.match(expectError(await call('Encrypt', { KeyId: randomUUID(), Plaintext: 'aGk=', EncryptionContext: ['a'] }), 'SerializationException', 400), /'encryptionContext'/);
    assert.match(expectError(await call('Encrypt', { KeyId: randomUUID(), Plaintext: 'aGk=', EncryptionContext: { a: 1 } }), 'SerializationException', 400), /'encryptionContext/);
  });

  test('a missing required member → ValidationException naming it in camelCase', async () => {
    assert.equal(
      expectError(await call('DescribeKey', {}), 'ValidationException', 400),
      "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
    );
    assert.match(expectError(await call('Encrypt', { KeyId: randomUUID() }), 'ValidationException', 400), /'plaintext'/);
    assert.match(expectError(await call('TagResource', { KeyId: randomUUID() }), 'ValidationException', 400), /'tags'/);
  });

  test("Plaintext of 4097 bytes → AWS's exact ValidationException", async () => {
    const key = await newKey('limits');
    const res = await call('Encrypt', { KeyId: key.KeyId, Plaintext: randomBytes(4097).toString('base64') });
    assert.equal(
      expectError(res, 'ValidationException', 400),
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    );
    const empty = await call('Encrypt', { KeyId: key.KeyId, Plaintext: '' });
    assert.equal(
      expectError(empty, 'ValidationException', 400),
      "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    // The boundary itself is accepted.
    const enc = await ok('Encrypt', { KeyId: key.KeyId, Plaintext: randomBytes(4096).toString('base64') });
    assert.equal(typeof enc.CiphertextBlob, 'string');
  });

  test('invalid base64 → an AWS-shaped 4xx naming the member, not echoing the value', async () => {
    const key = await newKey('b64');
    for (const plaintext of ['not base64!!', 'aGk', 'a', '@@@@', 'aGk=aGk=']) {
      const res = await call('Encrypt', { KeyId: key.KeyId, Plaintext: plaintext });
      assert.ok(res.status >= 400 && res.status < 500, res.body);
      assert.ok(['SerializationException', 'ValidationException'].includes(res.json?.__type), res.body);
      const message = expectError(res, res.json.__type, 400);
      assert.match(message, /'plaintext'/);
      if (plaintext.length >= 3) assert.ok(!message.includes(plaintext), `the blob value was echoed: ${message}`);
    }
    const res = await call('Decrypt', { CiphertextBlob: '%%%' });
    assert.match(expectError(res, res.json.__type, 400), /'ciphertextBlob'/);
  });

  test('a body over maxBodyBytes → 413 RequestEntityTooLargeException as JSON', async () => {
    const keysBefore = await listKeyIds();
    const body = JSON.stringify({ Description: 'x'.repeat(MAX_BODY_BYTES + 100) });
    assert.ok(body.length > MAX_BODY_BYTES);
    const res = await send({ target: 'TrentService.CreateKey', body });
    expectError(res, 'RequestEntityTooLargeException', 413);
    // Content-Length alone decides: a declared length over the limit is refused without a body.
    const declared = await declaredLengthOnly(MAX_BODY_BYTES * 64);
    common(declared);
    expectError(declared, 'RequestEntityTooLargeException', 413);
    assert.deepEqual(await listKeyIds(), keysBefore);
  });
});

/**
 * Sends headers declaring a large Content-Length and only a few bytes of body, then waits for the
 * answer: the server must refuse from the header, without waiting for the rest.
 */
function declaredLengthOnly(length: number): Promise<RawResponse> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to an oversized Content-Length within 5 s')), 5000);
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        headers: { 'content-type': AMZ_JSON, 'x-amz-target': 'TrentService.CreateKey', 'content-length': String(length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          r.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
      },
    );
    r.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    r.write('{"Description":"');
  });
}

/** Writes raw bytes on a fresh connection and parses the one HTTP response that comes back. */
function rawHttp(bytes: string): Promise<RawResponse> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no response within 5 s'));
    }, 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // the server may reset after answering; the answer is what counts
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(text)}`));
      const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = text.slice(split + 4);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, json });
    });
    socket.write(bytes);
  });
}

describe('HTTP framing errors (before any route runs)', () => {
  test('a malformed Content-Length → AWS-shaped 400 SerializationException', async () => {
    const res = common(await rawHttp('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\nX-Amz-Target: TrentService.ListKeys\r\n\r\n{}'));
    expectError(res, 'SerializationException', 400);
  });

  test('a garbage request line → AWS-shaped 400 SerializationException', async () => {
    const res = common(await rawHttp('HELLO THERE\r\n\r\n'));
    expectError(res, 'SerializationException', 400);
  });

  test('headers over the HTTP parser limit → AWS-shaped 431 RequestEntityTooLargeException', async () => {
    const res = common(await rawHttp(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(40_000)}\r\nContent-Length: 2\r\n\r\n{}`));
    expectError(res, 'RequestEntityTooLargeException', 431);
  });
});

test('every response in this file was checked', () => {
  assert.ok(responses >= 60, `only ${responses} responses were checked`);
});
