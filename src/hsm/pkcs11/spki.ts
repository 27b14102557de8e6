// Encodings at the edge of the HSM: public keys read from PKCS#11 attributes as DER
// SubjectPublicKeyInfo, generated data key pairs as PKCS#8, and ECDSA signatures between the
// PKCS#11 form (r‖s) and the DER form AWS returns (ECDSA-Sig-Value).
//
// Node's crypto does the SPKI/PKCS#8 DER (via JWK), so no key structure is hand-encoded here;
// only the two tiny DER shapes PKCS#11 itself uses (an OCTET STRING around CKA_EC_POINT, and the
// ECDSA SEQUENCE of two INTEGERs) are parsed and written by hand.

import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';

import type { AsymmetricKeySpec, EccSpec } from '../../domain/key-spec.js';

/** JWK curve names per spec (Node accepts 'secp256k1' in JWK). */
const JWK_CURVE: Record<EccSpec, string> = {
  ECC_NIST_P256: 'P-256',
  ECC_NIST_P384: 'P-384',
  ECC_NIST_P521: 'P-521',
  ECC_SECG_P256K1: 'secp256k1',
};

/** Node's `asymmetricKeyDetails.namedCurve` per spec, to check a caller's public key. */
export const NODE_CURVE: Record<EccSpec, string> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
  ECC_SECG_P256K1: 'secp256k1',
};

/** Coordinate length in bytes per curve. */
export const COORDINATE_BYTES: Record<EccSpec, number> = { ECC_NIST_P256: 32, ECC_NIST_P384: 48, ECC_NIST_P521: 66, ECC_SECG_P256K1: 32 };

const b64u = (bytes: Buffer): string => bytes.toString('base64url');

/**
 * CKA_EC_POINT is a DER OCTET STRING holding the point (PKCS#11 v2.40; SoftHSM2 2.6.1 follows it);
 * a few devices return the bare point. Returns the bare point.
 */
export function unwrapEcPoint(value: Buffer, pointBytes: number): Buffer {
  if (value.length === pointBytes) return value;
  if (value[0] !== 0x04) throw new Error('CKA_EC_POINT is neither a point nor an OCTET STRING');
  let at = 1;
  let length = value[at++]!;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = (length << 8) | value[at++]!;
  }
  if (at + length !== value.length || length !== pointBytes) throw new Error('CKA_EC_POINT has an unexpected length');
  return value.subarray(at);
}

/** The bare point as CKA_EC_POINT holds it (a DER OCTET STRING, as unwrapEcPoint reads it), for C_CreateObject. */
export function ecPointAttribute(point: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x04]), derLength(point.length), point]);
}

export interface PublicKeyParts {
  readonly modulus?: Buffer;
  readonly publicExponent?: Buffer;
  /** The bare point: 04‖x‖y for Weierstrass curves, 32 bytes for Ed25519. */
  readonly point?: Buffer;
}

export function publicJwk(spec: AsymmetricKeySpec, parts: PublicKeyParts): JsonWebKey {
  if (spec.startsWith('RSA_')) {
    if (parts.modulus === undefined || parts.publicExponent === undefined) throw new Error('RSA public key parts missing');
    return { kty: 'RSA', n: b64u(stripLeadingZeros(parts.modulus)), e: b64u(stripLeadingZeros(parts.publicExponent)) };
  }
  if (parts.point === undefined) throw new Error('EC point missing');
  if (spec === 'ECC_NIST_EDWARDS25519') return { kty: 'OKP', crv: 'Ed25519', x: b64u(parts.point) };
  const size = COORDINATE_BYTES[spec as EccSpec];
  if (parts.point.length !== 1 + 2 * size || parts.point[0] !== 0x04) throw new Error('EC point is not uncompressed');
  return { kty: 'EC', crv: JWK_CURVE[spec as EccSpec], x: b64u(parts.point.subarray(1, 1 + size)), y: b64u(parts.point.subarray(1 + size)) };
}

/** DER SubjectPublicKeyInfo, as GetPublicKey returns it. */
export function spkiDer(spec: AsymmetricKeySpec, parts: PublicKeyParts): Buffer {
  return createPublicKey({ key: publicJwk(spec, parts), format: 'jwk' }).export({ format: 'der', type: 'spki' });
}

export interface PrivateKeyParts extends PublicKeyParts {
  /** RSA: CKA_PRIVATE_EXPONENT, CKA_PRIME_1/2, CKA_EXPONENT_1/2, CKA_COEFFICIENT. */
  readonly rsa?: { d: Buffer; p: Buffer; q: Buffer; dp: Buffer; dq: Buffer; qi: Buffer };
  /** EC and Ed25519: CKA_VALUE (the scalar, or the Ed25519 seed). */
  readonly value?: Buffer;
}

/** DER PKCS#8 PrivateKeyInfo, as GenerateDataKeyPair returns it. */
export function pkcs8Der(spec: AsymmetricKeySpec, parts: PrivateKeyParts): Buffer {
  const jwk = publicJwk(spec, parts) as Record<string, string>;
  if (parts.rsa !== undefined) {
    for (const [name, value] of Object.entries(parts.rsa)) jwk[name] = b64u(stripLeadingZeros(value));
  } else {
    if (parts.value === undefined) throw new Error('private value missing');
    const size = spec === 'ECC_NIST_EDWARDS25519' ? 32 : COORDINATE_BYTES[spec as EccSpec];
    jwk['d'] = b64u(leftPad(stripLeadingZeros(parts.value), size));
  }
  return createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'pkcs8' });
}

/** r‖s (PKCS#11 CKM_ECDSA output) → DER ECDSA-Sig-Value (what AWS returns). */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** DER ECDSA-Sig-Value → r‖s of `size`-byte halves; undefined when it is not well-formed. */
export function ecdsaDerToRaw(der: Buffer, size: number): Buffer | undefined {
  let at = 0;
  const read = (tag: number): Buffer | undefined => {
    if (der[at++] !== tag) return undefined;
    let length = der[at++];
    if (length === undefined) return undefined;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 2) return undefined;
      length = 0;
      for (let i = 0; i < octets; i++) length = (length << 8) | (der[at++] ?? 0);
    }
    if (at + length > der.length) return undefined;
    const content = der.subarray(at, at + length);
    at += length;
    return content;
  };
  const seq = read(0x30);
  if (seq === undefined || at !== der.length) return undefined;
  der = seq;
  at = 0;
  const r = read(0x02);
  const s = read(0x02);
  if (r === undefined || s === undefined || at !== der.length) return undefined;
  const rr = stripLeadingZeros(r);
  const ss = stripLeadingZeros(s);
  if (rr.length > size || ss.length > size) return undefined;
  return Buffer.concat([leftPad(rr, size), leftPad(ss, size)]);
}

/** Uncompressed point 04‖x‖y of a caller's public key (a JWK from Node's crypto). */
export function uncompressedPoint(jwk: JsonWebKey, size: number): Buffer {
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  return Buffer.concat([Buffer.from([0x04]), leftPad(x, size), leftPad(y, size)]);
}

function derInteger(magnitude: Buffer): Buffer {
  let value = stripLeadingZeros(magnitude);
  if (value.length === 0) value = Buffer.from([0]);
  if (value[0]! & 0x80) value = Buffer.concat([Buffer.from([0]), value]);
  return Buffer.concat([Buffer.from([0x02]), derLength(value.length), value]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

function stripLeadingZeros(value: Buffer): Buffer {
  let at = 0;
  while (at < value.length - 1 && value[at] === 0) at++;
  return value.subarray(at);
}

function leftPad(value: Buffer, size: number): Buffer {
  if (value.length >= size) return value;
  return Buffer.concat([Buffer.alloc(size - value.length), value]);
}
