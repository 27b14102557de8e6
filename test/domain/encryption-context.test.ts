// The canonical encryption-context bytes bound into every ciphertext as AAD: exact encoding, key
// order by UTF-8 bytes, absent == empty, and the 8192-byte limit.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalEncryptionContext, MAX_ENCRYPTION_CONTEXT_BYTES } from '../../src/domain/encryption-context.js';
import { KmsError } from '../../src/domain/errors.js';

function hex(context: Record<string, string> | undefined, member?: string): string {
  return canonicalEncryptionContext(context, member).toString('hex');
}

test('canonical bytes of a known map, written out by hand', () => {
  // u16 count ‖ (u16 len ‖ key ‖ u16 len ‖ value)*, big-endian, keys sorted by UTF-8 bytes:
  // 'Department' (0x44…) sorts before 'purpose' (0x70…).
  const expected = [
    '0002', // two entries
    '000a', '4465706172746d656e74', // "Department"
    '0002', '4954', // "IT"
    '0007', '707572706f7365', // "purpose"
    '0004', '74657374', // "test"
  ].join('');
  assert.equal(hex({ purpose: 'test', Department: 'IT' }), expected);
});

test('a one-entry map and an empty value', () => {
  assert.equal(hex({ a: '1' }), '0001' + '0001' + '61' + '0001' + '31');
  assert.equal(hex({ k: '' }), '0001' + '0001' + '6b' + '0000');
});

test('lengths are UTF-8 byte counts, not character counts', () => {
  // 'é' is c3 a9, 'ü' is c3 bc.
  assert.equal(hex({ é: 'ü' }), '0001' + '0002' + 'c3a9' + '0002' + 'c3bc');
});

test('the same map in any insertion order gives the same bytes', () => {
  const a = canonicalEncryptionContext({ b: '2', a: '1', c: '3', B: '0' });
  const b = canonicalEncryptionContext({ c: '3', B: '0', a: '1', b: '2' });
  const c = canonicalEncryptionContext({ a: '1', b: '2', c: '3', B: '0' });
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
  // 'B' (0x42) < 'a' < 'b' < 'c': byte order, so upper case first.
  assert.equal(a.toString('hex'), '0004' + '0001420001' + '30' + '0001610001' + '31' + '0001620001' + '32' + '0001630001' + '33');
});

test('a key that is a prefix of another sorts first', () => {
  assert.equal(hex({ ab: 'y', a: 'x' }), '0002' + '0001' + '61' + '0001' + '78' + '0002' + '6162' + '0001' + '79');
});

test('matching is case-sensitive: keys or values differing only in case give different bytes', () => {
  assert.notEqual(hex({ key: 'v' }), hex({ Key: 'v' }));
  assert.notEqual(hex({ key: 'v' }), hex({ key: 'V' }));
});

test('absent and empty contexts both encode as 00 00', () => {
  assert.equal(hex(undefined), '0000');
  assert.equal(hex({}), '0000');
  assert.equal(hex(undefined, 'DestinationEncryptionContext'), '0000');
});

test('multi-byte keys are sorted by UTF-8 bytes, not UTF-16 code units', () => {
  const fullwidthTilde = '\uFF5E'; // UTF-8 ef bd 9e; UTF-16 ff5e
  const grinning = '\u{1F600}'; // UTF-8 f0 9f 98 80; UTF-16 d83d de00
  // The two orders really differ for this pair: UTF-16 (JS default sort) puts the emoji first.
  assert.deepEqual([fullwidthTilde, grinning].sort(), [grinning, fullwidthTilde]);
  const expected = '0002' + '0003' + 'efbd9e' + '0001' + '61' + '0004' + 'f09f9880' + '0001' + '62';
  assert.equal(hex({ [grinning]: 'b', [fullwidthTilde]: 'a' }), expected);
  assert.equal(hex({ [fullwidthTilde]: 'a', [grinning]: 'b' }), expected);
});

test('exactly 8192 bytes is accepted', () => {
  assert.equal(MAX_ENCRYPTION_CONTEXT_BYTES, 8192);
  // 2 (count) + 2 + 1 (key) + 2 + 8185 (value) = 8192
  const out = canonicalEncryptionContext({ k: 'v'.repeat(8185) });
  assert.equal(out.length, 8192);
  assert.equal(out.subarray(0, 7).toString('hex'), '0001' + '0001' + '6b' + '1ff9');
  assert.equal(out.subarray(7).toString('utf8'), 'v'.repeat(8185));
});

test('one byte over → ValidationException naming the default member', () => {
  assert.throws(
    () => canonicalEncryptionContext({ k: 'v'.repeat(8186) }),
    (err: unknown) => {
      assert.ok(err instanceof KmsError);
      assert.equal(err.kmsName, 'ValidationException');
      assert.equal(err.status, 400);
      assert.equal(err.message, 'EncryptionContext is 8193 bytes when serialized; the limit is 8192 bytes.');
      return true;
    },
  );
});

test('one byte over → ValidationException naming the member passed in', () => {
  assert.throws(() => canonicalEncryptionContext({ k: 'v'.repeat(8186) }, 'SourceEncryptionContext'), {
    name: 'KmsError',
    kmsName: 'ValidationException',
    message: 'SourceEncryptionContext is 8193 bytes when serialized; the limit is 8192 bytes.',
  });
});

test('the limit counts UTF-8 bytes: 4093 two-byte characters are over it', () => {
  // 2 + 2 + 1 + 2 + 4093 × 2 = 8193 bytes, though the value is only 4093 characters.
  assert.throws(() => canonicalEncryptionContext({ k: 'é'.repeat(4093) }), {
    kmsName: 'ValidationException',
    message: 'EncryptionContext is 8193 bytes when serialized; the limit is 8192 bytes.',
  });
  assert.equal(canonicalEncryptionContext({ k: 'é'.repeat(4092) }).length, 8191);
});

test('the limit counts every entry’s framing', () => {
  // 2 + 1000 × (2 + 4 + 2 + 0) = 8002 accepted; 1024 entries = 8194 refused.
  const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i).padStart(4, '0'), '']));
  assert.equal(canonicalEncryptionContext(entries(1000)).length, 8002);
  assert.throws(() => canonicalEncryptionContext(entries(1024)), {
    kmsName: 'ValidationException',
    message: 'EncryptionContext is 8194 bytes when serialized; the limit is 8192 bytes.',
  });
});
