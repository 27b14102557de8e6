// Opaque Limit/Marker pagination: markers round-trip, anything else is InvalidMarkerException, and
// page() answers AWS's Truncated/NextMarker pair.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KmsError } from '../../src/domain/errors.js';
import { decodeMarker, encodeMarker, page } from '../../src/operations/pagination.js';

const INVALID = 'The marker that specifies where pagination should next begin is not valid.';

function assertInvalidMarker(marker: string): void {
  assert.throws(
    () => decodeMarker(marker),
    (err: unknown) => {
      assert.ok(err instanceof KmsError, String(err));
      assert.equal(err.kmsName, 'InvalidMarkerException');
      assert.equal(err.status, 400);
      assert.equal(err.message, INVALID);
      return true;
    },
    JSON.stringify(marker),
  );
}

test('encode/decode round trip', () => {
  for (const key of ['1234abcd-12ab-34cd-56ef-1234567890ab', 'alias/ExampleAlias', 'a', 'kb1:nested', 'ünïcødé/\u{1F600}', 'x'.repeat(500)]) {
    const marker = encodeMarker(key);
    assert.match(marker, /^[A-Za-z0-9_-]+$/, 'a marker is unpadded base64url');
    assert.equal(decodeMarker(marker), key);
  }
});

test('a marker is the base64url of "kb1:" and the sort key', () => {
  assert.equal(encodeMarker('alias/a'), Buffer.from('kb1:alias/a').toString('base64url'));
  assert.equal(Buffer.from(encodeMarker('k'), 'base64url').toString('utf8'), 'kb1:k');
});

test('no marker decodes to undefined', () => {
  assert.equal(decodeMarker(undefined), undefined);
});

test('bogus markers → InvalidMarkerException', () => {
  const bogus = [
    '',
    'not a marker',
    'abc!',
    Buffer.from('alias/a').toString('base64url'), // no prefix
    Buffer.from('kb2:alias/a').toString('base64url'), // another version
    Buffer.from('kb1').toString('base64url'), // prefix cut short
    Buffer.from('kb1:').toString('base64url'), // empty sort key
    Buffer.from('kb1:alias/a').toString('base64'), // padded standard base64
    `${encodeMarker('alias/a')}=`,
    `${encodeMarker('alias/a')}.`,
    ' ' + encodeMarker('alias/a'),
  ];
  for (const marker of bogus) assertInvalidMarker(marker);
});

test('page(): a listing that fits is not truncated and has no NextMarker', () => {
  const items = ['a', 'b', 'c'];
  for (const limit of [3, 4, 100]) {
    const result = page(items, limit, (s) => s);
    assert.deepEqual(result, { items: ['a', 'b', 'c'], Truncated: false });
    assert.equal('NextMarker' in result, false);
  }
  assert.deepEqual(page([], 1, (s: string) => s), { items: [], Truncated: false });
});

test('page(): one item more than the limit truncates at the limit; NextMarker names the last item shown', () => {
  const items = [{ id: 'k1' }, { id: 'k2' }, { id: 'k3' }, { id: 'k4' }];
  const result = page(items, 3, (item) => item.id);
  assert.deepEqual(result.items, [{ id: 'k1' }, { id: 'k2' }, { id: 'k3' }]);
  assert.equal(result.Truncated, true);
  assert.equal(result.NextMarker, encodeMarker('k3'));
  assert.equal(decodeMarker(result.NextMarker), 'k3');
});

test('page(): limit 1', () => {
  const result = page(['x', 'y'], 1, (s) => `key:${s}`);
  assert.deepEqual(result, { items: ['x'], Truncated: true, NextMarker: encodeMarker('key:x') });
});

test('page(): does not modify the array it is given', () => {
  const items = ['a', 'b', 'c'];
  page(items, 2, (s) => s);
  assert.deepEqual(items, ['a', 'b', 'c']);
});
