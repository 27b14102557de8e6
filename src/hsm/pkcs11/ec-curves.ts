// The short-Weierstrass curves keybridge imports EC keys on (y² = x³ + ax + b mod p), as far as
// recovering a public key from its x coordinate needs them: a token can tell us x(Q) of an
// imported private key (ECDH with the generator, key-import.ts) but not Q itself, so the two
// points with that x are computed here and the right one picked by a signature.
//
// Constants from SEC 2 v2 (secp256k1, secp256r1 = P-256, secp384r1 = P-384, secp521r1 = P-521;
// the NIST ones equal FIPS 186-5 / SP 800-186). test/hsm/ec-curves.test.ts checks that each G is
// on its curve and that Node-generated keys' points are among the candidates.

import type { EccSpec } from '../../domain/key-spec.js';
import { COORDINATE_BYTES } from './spki.js';

interface Curve {
  readonly p: bigint;
  readonly a: bigint;
  readonly b: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
}

const P256 = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P384 = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn;
const P521 = (1n << 521n) - 1n;

const CURVES: Record<EccSpec, Curve> = {
  ECC_NIST_P256: {
    p: P256,
    a: P256 - 3n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  ECC_NIST_P384: {
    p: P384,
    a: P384 - 3n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
  ECC_NIST_P521: {
    p: P521,
    a: P521 - 3n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  },
  ECC_SECG_P256K1: {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn,
    a: 0n,
    b: 7n,
    gx: 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
    gy: 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
  },
};

/** The curve's generator G as an uncompressed point 04‖x‖y (the ECDH peer that yields x(Q)). */
export function generatorPoint(spec: EccSpec): Buffer {
  const { gx, gy } = CURVES[spec];
  return uncompressed(spec, gx, gy);
}

/** Whether the uncompressed point 04‖x‖y satisfies the curve equation (the tests check the constants with it). */
export function isOnCurve(spec: EccSpec, point: Buffer): boolean {
  const size = COORDINATE_BYTES[spec];
  if (point.length !== 1 + 2 * size || point[0] !== 0x04) return false;
  const { p } = CURVES[spec];
  const x = toBigInt(point.subarray(1, 1 + size));
  const y = toBigInt(point.subarray(1 + size));
  return x < p && y < p && mod(y * y, p) === rightHandSide(spec, x);
}

/**
 * The two uncompressed points with x coordinate `x` (big-endian, the curve's coordinate length),
 * or undefined when no point of the curve has it.
 */
export function pointsWithX(spec: EccSpec, x: Buffer): [Buffer, Buffer] | undefined {
  const { p } = CURVES[spec];
  const xn = toBigInt(x);
  if (x.length !== COORDINATE_BYTES[spec] || xn >= p) return undefined;
  const v = rightHandSide(spec, xn);
  // Every curve here has p ≡ 3 (mod 4), so a square root of v, if there is one, is v^((p+1)/4).
  const y = modPow(v, (p + 1n) / 4n, p);
  if (mod(y * y, p) !== v) return undefined;
  return [uncompressed(spec, xn, y), uncompressed(spec, xn, mod(p - y, p))];
}

function rightHandSide(spec: EccSpec, x: bigint): bigint {
  const { p, a, b } = CURVES[spec];
  return mod(mod(x * x, p) * x + a * x + b, p);
}

function uncompressed(spec: EccSpec, x: bigint, y: bigint): Buffer {
  const size = COORDINATE_BYTES[spec];
  return Buffer.concat([Buffer.from([0x04]), toBytes(x, size), toBytes(y, size)]);
}

function mod(value: bigint, p: bigint): bigint {
  const r = value % p;
  return r < 0n ? r + p : r;
}

function modPow(base: bigint, exponent: bigint, p: bigint): bigint {
  let result = 1n;
  let b = mod(base, p);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % p;
    b = (b * b) % p;
  }
  return result;
}

function toBigInt(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

function toBytes(value: bigint, size: number): Buffer {
  return Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex');
}
