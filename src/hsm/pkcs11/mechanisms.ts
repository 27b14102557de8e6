// Mechanism discovery: what a token can do (C_GetMechanismList + C_GetMechanismInfo, read once per
// token and cached), and which mechanisms each key spec and usage needs. A spec the token cannot
// serve is refused at CreateKey, naming the missing mechanism; nothing is emulated in software.

import pkcs11js from 'pkcs11js';

import type { KeySpec, KeyUsage } from '../../domain/key-spec.js';
import { HMAC_KEY_BYTES, RSA_BITS, isEccSpec, isHmacSpec, isRsaSpec } from '../../domain/key-spec.js';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, CURVE_BITS } from './asymmetric-templates.js';
import type { Handle, Pkcs11 } from './module.js';

export interface MechanismInfo {
  readonly minKeySize: number;
  readonly maxKeySize: number;
  readonly flags: number;
}

export type MechanismTable = ReadonlyMap<number, MechanismInfo>;

/** Every mechanism the token of `session` lists, with its info. */
export function discoverMechanisms(pkcs11: Pkcs11, session: Handle): MechanismTable {
  const slot = pkcs11.C_GetSessionInfo(session).slotID;
  const table = new Map<number, MechanismInfo>();
  for (const mechanism of pkcs11.C_GetMechanismList(slot)) {
    const info = pkcs11.C_GetMechanismInfo(slot, mechanism);
    table.set(mechanism, { minKeySize: info.minKeySize, maxKeySize: info.maxKeySize, flags: info.flags });
  }
  return table;
}

interface Requirement {
  readonly name: string;
  readonly mechanism: number;
  /** Key size to check against min/maxKeySize, in the mechanism's unit (bits, bytes for HMAC). */
  readonly keySize?: number;
}

const HMAC_MECHANISMS = {
  HMAC_224: { name: 'CKM_SHA224_HMAC', mechanism: pkcs11js.CKM_SHA224_HMAC },
  HMAC_256: { name: 'CKM_SHA256_HMAC', mechanism: pkcs11js.CKM_SHA256_HMAC },
  HMAC_384: { name: 'CKM_SHA384_HMAC', mechanism: pkcs11js.CKM_SHA384_HMAC },
  HMAC_512: { name: 'CKM_SHA512_HMAC', mechanism: pkcs11js.CKM_SHA512_HMAC },
} as const;

/**
 * The mechanisms a key of this spec and usage needs. Sign/Verify hash RAW messages in software
 * (a public computation) and hand the HSM the digest, so RSA signing needs only CKM_RSA_PKCS and
 * CKM_RSA_PKCS_PSS, and ECDSA only CKM_ECDSA, on every device.
 */
export function requiredMechanisms(spec: KeySpec, usage: KeyUsage): Requirement[] {
  if (spec === 'SYMMETRIC_DEFAULT') return [{ name: 'CKM_AES_GCM', mechanism: pkcs11js.CKM_AES_GCM }];
  if (isHmacSpec(spec)) {
    return [
      { name: 'CKM_GENERIC_SECRET_KEY_GEN', mechanism: pkcs11js.CKM_GENERIC_SECRET_KEY_GEN },
      { ...HMAC_MECHANISMS[spec], keySize: HMAC_KEY_BYTES[spec] },
    ];
  }
  if (isRsaSpec(spec)) {
    const gen = { name: 'CKM_RSA_PKCS_KEY_PAIR_GEN', mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, keySize: RSA_BITS[spec] };
    if (usage === 'ENCRYPT_DECRYPT') return [gen, { name: 'CKM_RSA_PKCS_OAEP', mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, keySize: RSA_BITS[spec] }];
    return [
      gen,
      { name: 'CKM_RSA_PKCS', mechanism: pkcs11js.CKM_RSA_PKCS, keySize: RSA_BITS[spec] },
      { name: 'CKM_RSA_PKCS_PSS', mechanism: pkcs11js.CKM_RSA_PKCS_PSS, keySize: RSA_BITS[spec] },
    ];
  }
  if (isEccSpec(spec)) {
    const gen = { name: 'CKM_EC_KEY_PAIR_GEN', mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN, keySize: CURVE_BITS[spec] };
    if (usage === 'KEY_AGREEMENT') return [gen, { name: 'CKM_ECDH1_DERIVE', mechanism: pkcs11js.CKM_ECDH1_DERIVE, keySize: CURVE_BITS[spec] }];
    return [gen, { name: 'CKM_ECDSA', mechanism: pkcs11js.CKM_ECDSA, keySize: CURVE_BITS[spec] }];
  }
  return [
    { name: 'CKM_EC_EDWARDS_KEY_PAIR_GEN', mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
    { name: 'CKM_EDDSA', mechanism: CKM_EDDSA },
  ];
}

/** The first requirement the token does not meet, described for the client; undefined if none. */
export function missingMechanism(table: MechanismTable, spec: KeySpec, usage: KeyUsage): string | undefined {
  for (const need of requiredMechanisms(spec, usage)) {
    const info = table.get(need.mechanism);
    if (info === undefined) return `${need.name} is not supported by the HSM`;
    // Some tokens report 0/0 when the size is not meaningful; only a real range is checked.
    if (need.keySize !== undefined && info.maxKeySize > 0 && (need.keySize < info.minKeySize || need.keySize > info.maxKeySize)) {
      return `${need.name} on the HSM supports key sizes ${info.minKeySize}-${info.maxKeySize}, not ${need.keySize}`;
    }
  }
  return undefined;
}
