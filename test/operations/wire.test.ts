// Request parsing and AWS's error wording for schema failures (reference §3.4, §3.6):
// ValidationException "N validation error(s) detected: …" for constraint failures, and
// SerializationException for values of the wrong JSON type or undecodable blobs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { KmsError, type KmsErrorName } from '../../src/domain/errors.js';
import {
  secretStr,
  blob,
  dryRun,
  encryptionContext,
  grantTokens,
  keyIdMember,
  limit,
  marker,
  parseInput,
  str,
  tagList,
} from '../../src/operations/wire.js';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

const encryptLike = z.object({
  KeyId: keyIdMember,
  Plaintext: blob(1, 4096),
  EncryptionContext: encryptionContext.optional(),
  GrantTokens: grantTokens.optional(),
  EncryptionAlgorithm: z.enum(['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE']).optional(),
  DryRun: dryRun.optional(),
});
const randomLike = z.object({ NumberOfBytes: z.number().int().min(1).max(1024) });
const listLike = z.object({ Limit: limit(100).optional(), Marker: marker.optional() });
const tagLike = z.object({ KeyId: keyIdMember, Tags: tagList });

function failure(schema: z.ZodType, body: Record<string, unknown>): { kmsName: KmsErrorName; message: string } {
  try {
    parseInput(schema, body);
  } catch (err) {
    assert.ok(err instanceof KmsError, String(err));
    assert.equal(err.status, 400);
    return { kmsName: err.kmsName, message: err.message };
  }
  assert.fail(`accepted: ${JSON.stringify(body)}`);
}

function validation(...parts: string[]): { kmsName: KmsErrorName; message: string } {
  const head = `${parts.length} validation error${parts.length === 1 ? '' : 's'} detected: `;
  return { kmsName: 'ValidationException', message: head + parts.join('; ') };
}

const b64 = (n: number, fill = 0x41) => Buffer.alloc(n, fill).toString('base64');

test('a valid body parses; blobs come out decoded', () => {
  const plaintext = Buffer.from('hello, world');
  const input = parseInput(encryptLike, {
    KeyId: KEY_ID,
    Plaintext: plaintext.toString('base64'),
    EncryptionContext: { purpose: 'test' },
    GrantTokens: ['t'],
    EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    DryRun: false,
  });
  assert.equal(input.KeyId, KEY_ID);
  assert.ok(Buffer.isBuffer(input.Plaintext));
  assert.deepEqual(input.Plaintext, plaintext);
  assert.deepEqual(input.EncryptionContext, { purpose: 'test' });
  assert.deepEqual(input.GrantTokens, ['t']);
  assert.equal(input.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  assert.equal(input.DryRun, false);
});

test('blob bounds are decoded byte lengths: 1 and 4096 bytes pass', () => {
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: b64(1) }).Plaintext, Buffer.alloc(1, 0x41));
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: b64(4096) }).Plaintext, Buffer.alloc(4096, 0x41));
});

test("a 4097-byte plaintext: AWS's exact wording, no value echoed", () => {
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID, Plaintext: b64(4097) }),
    validation("Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"),
  );
});

test('an empty plaintext: "… greater than or equal to 1"', () => {
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID, Plaintext: '' }),
    validation("Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"),
  );
});

test('blobs never echo their value, neither encoded nor decoded', () => {
  const secret = Buffer.from('TOP-SECRET-PLAINTEXT-'.repeat(200)); // 4200 bytes
  const encoded = secret.toString('base64');
  for (const body of [
    { KeyId: KEY_ID, Plaintext: encoded }, // too long
    { KeyId: KEY_ID, Plaintext: `${encoded.slice(0, 40)}!` }, // not base64
    { KeyId: '', Plaintext: encoded }, // alongside another error
  ]) {
    const { message } = failure(encryptLike, body);
    assert.ok(!message.includes('TOP-SECRET'), message);
    assert.ok(!message.includes(encoded.slice(0, 40)), message);
  }
});

test('a missing required member: "Value null at \'keyId\' … must not be null"', () => {
  assert.deepEqual(
    failure(encryptLike, { Plaintext: b64(1) }),
    validation("Value null at 'keyId' failed to satisfy constraint: Member must not be null"),
  );
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID }),
    validation("Value null at 'plaintext' failed to satisfy constraint: Member must not be null"),
  );
});

test('numbers show their value', () => {
  assert.deepEqual(
    failure(randomLike, { NumberOfBytes: 0 }),
    validation("Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"),
  );
  assert.deepEqual(
    failure(randomLike, { NumberOfBytes: 1025 }),
    validation("Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"),
  );
  assert.deepEqual(parseInput(randomLike, { NumberOfBytes: 1024 }), { NumberOfBytes: 1024 });
});

test('strings show their value and use length wording', () => {
  assert.deepEqual(
    failure(encryptLike, { KeyId: '', Plaintext: b64(1) }),
    validation("Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"),
  );
  const long = 'k'.repeat(2049);
  assert.deepEqual(
    failure(encryptLike, { KeyId: long, Plaintext: b64(1) }),
    validation(`Value '${long}' at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048`),
  );
  assert.equal(parseInput(encryptLike, { KeyId: 'k'.repeat(2048), Plaintext: b64(1) }).KeyId.length, 2048);
});

test('str(min, max) bounds in characters', () => {
  const schema = z.object({ Name: str(2, 3) });
  assert.deepEqual(parseInput(schema, { Name: 'ab' }), { Name: 'ab' });
  assert.deepEqual(parseInput(schema, { Name: 'abc' }), { Name: 'abc' });
  assert.deepEqual(failure(schema, { Name: 'a' }), validation("Value 'a' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 2"));
  assert.deepEqual(failure(schema, { Name: 'abcd' }), validation("Value 'abcd' at 'name' failed to satisfy constraint: Member must have length less than or equal to 3"));
});

test('two problems: "2 validation errors detected: …; …" in member order', () => {
  assert.deepEqual(
    failure(encryptLike, { KeyId: '', Plaintext: b64(4097) }),
    validation(
      "Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1",
      "Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    ),
  );
  assert.deepEqual(
    failure(encryptLike, {}),
    validation(
      "Value null at 'keyId' failed to satisfy constraint: Member must not be null",
      "Value null at 'plaintext' failed to satisfy constraint: Member must not be null",
    ),
  );
});

test('an enum failure lists the value set', () => {
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), EncryptionAlgorithm: 'AES_GCM' }),
    validation(
      "Value 'AES_GCM' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
    ),
  );
});

test('a value of the wrong JSON type → SerializationException naming the member', () => {
  const cases: Array<[z.ZodType, Record<string, unknown>, string]> = [
    [encryptLike, { KeyId: 12, Plaintext: b64(1) }, "Value at 'keyId' failed to deserialize: expected string, got number"],
    [encryptLike, { KeyId: KEY_ID, Plaintext: 5 }, "Value at 'plaintext' failed to deserialize: expected string, got number"],
    [encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), DryRun: 'true' }, "Value at 'dryRun' failed to deserialize: expected boolean, got string"],
    [encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), EncryptionContext: ['a'] }, "Value at 'encryptionContext' failed to deserialize: expected record, got array"],
    [encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), EncryptionContext: { a: 1 } }, "Value at 'encryptionContext.a' failed to deserialize: expected string, got number"],
    [listLike, { Limit: '5' }, "Value at 'limit' failed to deserialize: expected number, got string"],
    [tagLike, { KeyId: KEY_ID, Tags: {} }, "Value at 'tags' failed to deserialize: expected array, got object"],
  ];
  for (const [schema, body, message] of cases) {
    assert.deepEqual(failure(schema, body), { kmsName: 'SerializationException', message }, JSON.stringify(body));
  }
});

test('a wrong JSON type is reported alone, ahead of constraint failures', () => {
  assert.deepEqual(failure(encryptLike, { KeyId: '', Plaintext: b64(4097), DryRun: 1 }), {
    kmsName: 'SerializationException',
    message: "Value at 'dryRun' failed to deserialize: expected boolean, got number",
  });
});

test('invalid base64 → SerializationException', () => {
  const message = "Value at 'plaintext' failed to deserialize: Member must be valid base64";
  for (const text of ['abc', 'ab!=', 'AAAA\n', 'AA=A', 'AAA==', 'AAAA====', '-_-_']) {
    assert.deepEqual(failure(encryptLike, { KeyId: KEY_ID, Plaintext: text }), { kmsName: 'SerializationException', message }, JSON.stringify(text));
  }
  // Padded standard base64 is fine.
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: 'aGk=' }).Plaintext, Buffer.from('hi'));
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: 'aA==' }).Plaintext, Buffer.from('h'));
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: '+/+/' }).Plaintext, Buffer.from([0xfb, 0xff, 0xbf]));
});

test('nested paths name the list element (1-based) and the member', () => {
  assert.deepEqual(
    failure(tagLike, { KeyId: KEY_ID, Tags: [{ TagKey: 'a', TagValue: 'b' }, { TagKey: '', TagValue: 'b' }] }),
    validation("Value '' at 'tags.2.member.tagKey' failed to satisfy constraint: Member must have length greater than or equal to 1"),
  );
  assert.deepEqual(
    failure(tagLike, { KeyId: KEY_ID, Tags: [{ TagKey: 'a' }] }),
    validation("Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null"),
  );
  assert.deepEqual(
    failure(tagLike, { KeyId: KEY_ID, Tags: [{ TagKey: 'a', TagValue: 'v'.repeat(257) }] }),
    validation(`Value '${'v'.repeat(257)}' at 'tags.1.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to 256`),
  );
  assert.deepEqual(failure(tagLike, { KeyId: KEY_ID, Tags: [{ TagKey: 'a', TagValue: 3 }] }), {
    kmsName: 'SerializationException',
    message: "Value at 'tags.1.member.tagValue' failed to deserialize: expected string, got number",
  });
  assert.deepEqual(
    parseInput(tagLike, { KeyId: KEY_ID, Tags: [{ TagKey: 'k', TagValue: '' }] }),
    { KeyId: KEY_ID, Tags: [{ TagKey: 'k', TagValue: '' }] },
  );
});

test('grant tokens: at most 10, each 1–8192 characters', () => {
  assert.deepEqual(parseInput(encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), GrantTokens: Array(10).fill('t') }).GrantTokens, Array(10).fill('t'));
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), GrantTokens: Array(11).fill('t') }),
    validation("Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10"),
  );
  assert.deepEqual(
    failure(encryptLike, { KeyId: KEY_ID, Plaintext: b64(1), GrantTokens: ['t', ''] }),
    validation("Value '' at 'grantTokens.2.member' failed to satisfy constraint: Member must have length greater than or equal to 1"),
  );
});

test('limit(max) and marker bounds', () => {
  assert.deepEqual(parseInput(listLike, { Limit: 1 }), { Limit: 1 });
  assert.deepEqual(parseInput(listLike, { Limit: 100, Marker: 'm'.repeat(1024) }), { Limit: 100, Marker: 'm'.repeat(1024) });
  assert.deepEqual(parseInput(listLike, {}), {});
  assert.deepEqual(
    failure(listLike, { Limit: 0 }),
    validation("Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"),
  );
  assert.deepEqual(
    failure(listLike, { Limit: 101 }),
    validation("Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"),
  );
  assert.deepEqual(failure(listLike, { Limit: 2.5 }).kmsName, 'SerializationException');
  assert.deepEqual(
    failure(listLike, { Marker: '' }),
    validation("Value '' at 'marker' failed to satisfy constraint: Member must have length greater than or equal to 1"),
  );
  assert.deepEqual(
    failure(listLike, { Marker: 'm'.repeat(1025) }),
    validation(`Value '${'m'.repeat(1025)}' at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024`),
  );
});

test('secret members never echo their value, even when too short', () => {
  const schema = z.object({ KeyStorePassword: secretStr(7, 32) });
  assert.throws(
    () => parseInput(schema, { KeyStorePassword: 'hunter' }),
    (err: unknown) =>
      err instanceof KmsError &&
      err.kmsName === 'ValidationException' &&
      err.message === "1 validation error detected: Value at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7",
  );
});

test('an enum member of the wrong JSON type is a SerializationException; a top-level null is absent', () => {
  const schema = z.object({ EncryptionAlgorithm: z.enum(['SYMMETRIC_DEFAULT']).optional() });
  assert.throws(
    () => parseInput(schema, { EncryptionAlgorithm: 5 }),
    (err: unknown) => err instanceof KmsError && err.kmsName === 'SerializationException' && /'encryptionAlgorithm'/.test(err.message),
  );
  assert.deepEqual(parseInput(schema, { EncryptionAlgorithm: null }), {});
});
