// Node's side of each known-answer comparison: what a correct token must produce, computed with
// node:crypto from values the suite chose, and the conversions between PKCS#11 attribute values
// and Node key objects. Nothing here touches the token.

import { createCipheriv, createDecipheriv, createPublicKey, type KeyObject } from 'node:crypto';

import pkcs11js from 'pkcs11js';

type Handle = Buffer;

/** AES-CMAC (NIST SP 800-38B, RFC 4493) with a 256-bit key, from AES-ECB. */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  const encryptBlock = (block: Buffer): Buffer => {
    const cipher = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]);
  };
  const double = (block: Buffer): Buffer => {
    const out = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) out[i] = ((block[i]! << 1) | (i < 15 ? block[i + 1]! >> 7 : 0)) & 0xff;
    if (block[0]! & 0x80) out[15]! ^= 0x87;
    return out;
  };
  const k1 = double(encryptBlock(Buffer.alloc(16)));
  const k2 = double(k1);
  const blocks = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  const last = Buffer.alloc(16);
  const tail = message.subarray((blocks - 1) * 16);
  tail.copy(last);
  if (!complete) last[tail.length] = 0x80;
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i]! ^= subkey[i]!;
  let state: Buffer = Buffer.alloc(16);
  for (let b = 0; b < blocks - 1; b++) {
    const block = message.subarray(b * 16, b * 16 + 16);
    for (let i = 0; i < 16; i++) state[i]! ^= block[i]!;
    state = encryptBlock(state);
  }
  for (let i = 0; i < 16; i++) state[i]! ^= last[i]!;
  return encryptBlock(state);
}

/** RFC 3394 (no padding) or RFC 5649 (with padding) key wrap with a 256-bit key. */
export function aesKeyWrap(kek: Buffer, value: Buffer, padded: boolean): Buffer {
  const cipher = padded
    ? createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'))
    : createCipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
  return Buffer.concat([cipher.update(value), cipher.final()]);
}

/** The inverse of aesKeyWrap; undefined when the integrity check fails. */
export function aesKeyUnwrap(kek: Buffer, wrapped: Buffer, padded: boolean): Buffer | undefined {
  try {
    const decipher = padded
      ? createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'))
      : createDecipheriv('id-aes256-wrap', kek, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch {
    return undefined;
  }
}

/** The RSA public key of a token object (CKA_MODULUS, CKA_PUBLIC_EXPONENT). */
export function rsaPublicKey(pkcs11: pkcs11js.PKCS11, session: Handle, publicKey: Handle): KeyObject {
  const [modulus, exponent] = pkcs11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
  return createPublicKey({ key: { kty: 'RSA', n: b64url(modulus!.value as Buffer), e: b64url(stripZeros(exponent!.value as Buffer)) }, format: 'jwk' });
}

export interface Curve {
  /** Name in the report. */
  readonly name: string;
  /** DER of the curve's OID, for CKA_EC_PARAMS. */
  readonly params: Buffer;
  /** JWK crv. */
  readonly jwk: string;
  /** Node's name, for ECDH. */
  readonly node: string;
  readonly coordinateBytes: number;
  readonly hash: 'sha256' | 'sha384' | 'sha512';
}

export const CURVES: readonly Curve[] = [
  { name: 'p256', params: Buffer.from('06082a8648ce3d030107', 'hex'), jwk: 'P-256', node: 'prime256v1', coordinateBytes: 32, hash: 'sha256' },
  { name: 'p384', params: Buffer.from('06052b81040022', 'hex'), jwk: 'P-384', node: 'secp384r1', coordinateBytes: 48, hash: 'sha384' },
  { name: 'p521', params: Buffer.from('06052b81040023', 'hex'), jwk: 'P-521', node: 'secp521r1', coordinateBytes: 66, hash: 'sha512' },
  { name: 'secp256k1', params: Buffer.from('06052b8104000a', 'hex'), jwk: 'secp256k1', node: 'secp256k1', coordinateBytes: 32, hash: 'sha256' },
];

export const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');

/**
 * CKA_EC_POINT without its DER OCTET STRING wrapping, when it has one (PKCS#11 says it must;
 * some tokens return the bare point). `pointBytes` is the bare point's length.
 */
export function barePoint(value: Buffer, pointBytes: number): Buffer {
  if (value.length === pointBytes) return value;
  if (value[0] === 0x04) {
    const long = value[1] === 0x81;
    const length = long ? value[2]! : value[1]!;
    const start = long ? 3 : 2;
    if (length === pointBytes && value.length === start + length) return value.subarray(start);
  }
  throw new Error(`CKA_EC_POINT of ${value.length} bytes is neither a ${pointBytes}-byte point nor its DER OCTET STRING`);
}

/** The public key of an EC token object, read from CKA_EC_POINT. */
export function ecPublicKey(pkcs11: pkcs11js.PKCS11, session: Handle, publicKey: Handle, curve: Curve): KeyObject {
  const point = barePoint(ecPoint(pkcs11, session, publicKey), 1 + 2 * curve.coordinateBytes);
  const x = point.subarray(1, 1 + curve.coordinateBytes);
  const y = point.subarray(1 + curve.coordinateBytes);
  return createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: b64url(x), y: b64url(y) }, format: 'jwk' });
}

/** The Ed25519 public key of a token object. */
export function ed25519PublicKey(pkcs11: pkcs11js.PKCS11, session: Handle, publicKey: Handle): KeyObject {
  const point = barePoint(ecPoint(pkcs11, session, publicKey), 32);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(point) }, format: 'jwk' });
}

function ecPoint(pkcs11: pkcs11js.PKCS11, session: Handle, publicKey: Handle): Buffer {
  return pkcs11.C_GetAttributeValue(session, publicKey, [{ type: pkcs11js.CKA_EC_POINT }])[0]!.value as Buffer;
}

/** DER DigestInfo of a SHA-256 digest, the input of a CKM_RSA_PKCS signature. */
export function sha256DigestInfo(digest: Buffer): Buffer {
  return Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
}

function b64url(value: Buffer): string {
  return value.toString('base64url');
}

function stripZeros(value: Buffer): Buffer {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  return value.subarray(i);
}
