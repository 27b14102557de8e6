// The curve constants behind the EC public-key recovery of imported keys: each generator is on its
// curve, and the points of keys Node generates are among the candidates computed from x alone.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';

import type { EccSpec } from '../../src/domain/key-spec.js';
import { generatorPoint, isOnCurve, pointsWithX } from '../../src/hsm/pkcs11/ec-curves.js';
import { COORDINATE_BYTES, NODE_CURVE, uncompressedPoint } from '../../src/hsm/pkcs11/spki.js';

const SPECS: readonly EccSpec[] = ['ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'];

test('each generator G is on its curve, and a changed G is not', () => {
  for (const spec of SPECS) {
    const g = generatorPoint(spec);
    assert.equal(g.length, 1 + 2 * COORDINATE_BYTES[spec], spec);
    assert.ok(isOnCurve(spec, g), spec);
    const moved = Buffer.from(g);
    moved[moved.length - 1]! ^= 1;
    assert.ok(!isOnCurve(spec, moved), spec);
  }
});

test('the points with the x of a Node-generated key are that key and its negation', () => {
  for (const spec of SPECS) {
    for (let i = 0; i < 5; i++) {
      const jwk = generateKeyPairSync('ec', { namedCurve: NODE_CURVE[spec] }).publicKey.export({ format: 'jwk' });
      const point = uncompressedPoint(jwk, COORDINATE_BYTES[spec]);
      const candidates = pointsWithX(spec, point.subarray(1, 1 + COORDINATE_BYTES[spec]));
      assert.ok(candidates !== undefined, spec);
      assert.ok(candidates.some((candidate) => candidate.equals(point)), spec);
      for (const candidate of candidates) assert.ok(isOnCurve(spec, candidate), spec);
      assert.ok(!candidates[0].equals(candidates[1]), spec);
    }
  }
});

test('an x with no point on the curve gives no candidates', () => {
  for (const spec of SPECS) {
    // About half of all x have no point; among the first 32 some must be missing.
    const missing = Array.from({ length: 32 }, (_, x) => pointsWithX(spec, Buffer.concat([Buffer.alloc(COORDINATE_BYTES[spec] - 1), Buffer.from([x])]))).filter(
      (candidates) => candidates === undefined,
    );
    assert.ok(missing.length > 0, spec);
  }
  assert.equal(pointsWithX('ECC_NIST_P256', Buffer.alloc(31)), undefined, 'a short x');
});
