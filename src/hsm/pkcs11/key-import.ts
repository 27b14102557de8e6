// Importing key material (BYOK) inside the token: the RSA wrapping key pair of a
// GetParametersForImport, the probe that says whether the token can unwrap a wrapping algorithm,
// and the import itself. Each function takes the leased session (ImportContext); Pkcs11Token
// leases it and caches handles.
//
// WARNING: the plaintext material must never exist outside the token — not in this process, not
// in a log. Every step below is a PKCS#11 call on objects inside the token; what this file reads
// back is public (an RSA modulus, an EC x coordinate, a fingerprint) or ciphertext under a key
// that never leaves the token. There is no host-side fallback (e.g. OAEP decoding on the host for
// SHA-256, which oaep.ts does for RSA Decrypt): a token that cannot unwrap an algorithm refuses it.
//
// The staged import (next-wave.md B.2, measured on SoftHSM2 2.6.1):
// 1. Unwrap the material into a *session* object S: sensitive, extractable, allowed to sign.
//    RSAES_OAEP_*: one C_UnwrapKey with CKM_RSA_PKCS_OAEP. RSA_AES_KEY_WRAP_*: the first modulus
//    length bytes unwrap (OAEP) into an ephemeral AES key, which unwraps the rest (RFC 5649,
//    CKM_AES_KEY_WRAP_PAD) into S — what CKM_RSA_AES_KEY_WRAP does in one step on tokens that have
//    it (SoftHSM2 2.6.1 does not, and pkcs11js 2.1.7 cannot pass its parameters).
// 2. Check that S is material of the key's spec without reading it: lengths from a wrap of S
//    under a transport key W generated in the token for this import; modulus size and curve from
//    public attributes.
// 3. Fingerprint S in the token (AES-CMAC, HMAC, or the public key of a private key) and derive
//    the material id from it: the same material imported into the same key gets the same id.
// 4. Wrap S under W and unwrap that into the final token object: non-extractable, CKA_ID = the
//    material id. Key pairs also get their public object, from the public key derived in step 2.
// 5. Destroy S, the ephemeral key and W, whatever happened.

import { createHash, verify as nodeVerify } from 'node:crypto';

import pkcs11js from 'pkcs11js';

import type { EccSpec, HmacSpec, KeySpec, KeyUsage, RsaSpec } from '../../domain/key-spec.js';
import { RSA_BITS, isEccSpec, isHmacSpec, isRsaSpec } from '../../domain/key-spec.js';
import type { BackingKeyRef, ImportedKeyMaterial, ImportKeyMaterialRequest, ImportWrappingAlgorithm, ImportWrappingKeySpec } from '../../ports/hsm.js';
import { HsmError } from '../../ports/hsm.js';
import * as asymmetric from './asymmetric-ops.js';
import { EC_PARAMS, findByIdAndClassTemplate, REQUIRED_PRIVATE_KEY_FLAGS } from './asymmetric-templates.js';
import { ulong } from './attribute-values.js';
import { CKR, ckrName, ckrOf } from './ckr.js';
import { generatorPoint, pointsWithX } from './ec-curves.js';
import {
  EPHEMERAL_KEK_TEMPLATE,
  findImportWrappingKeyTemplate,
  IMPORT_WRAPPING_KEY_FLAGS,
  importedKeyTemplate,
  importedObjectFlags,
  importedPublicKeyTemplate,
  importWrappingKeyTemplates,
  keyTypeOf,
  objectClassOf,
  stagingTemplate,
  TRANSPORT_KEY_TEMPLATE,
  TYPE_PROBE_TEMPLATE,
  type ImportTarget,
} from './key-import-templates.js';
import type { MechanismTable } from './mechanisms.js';
import type { Handle, Pkcs11 } from './module.js';
import { AES_KEY_WRAP, AES_KEY_WRAP_PAD } from './replication-templates.js';
import { backingKeyId } from './key-templates.js';
import { COORDINATE_BYTES, ecPointAttribute, spkiDer } from './spki.js';

type Flag = (typeof REQUIRED_PRIVATE_KEY_FLAGS)[number];

/** What the import functions need from the token: the leased session and a few of its helpers. */
export interface ImportContext {
  readonly pkcs11: Pkcs11;
  readonly session: Handle;
  readonly mechanisms: MechanismTable;
  /** CKR codes the vendor profile says a bad ciphertext is reported with. */
  readonly badTagCodes: ReadonlySet<number>;
  /** Object handles matching `template` (C_FindObjects*, always finalised). */
  find(template: pkcs11js.Template, limit?: number): Handle[];
  /** Throws HSM_FAILED unless every flag reads back as required. */
  checkFlags(handle: Handle, flags: readonly Flag[]): void;
}

/** The material's objects this import created (Pkcs11Token caches their handles). */
export interface CreatedObject {
  readonly objectClass: number;
  readonly handle: Handle;
}

// Room for an RFC 5649 wrap of an RSA-4096 PKCS#8 (about 2.4 KB).
const MAX_WRAPPED_BYTES = 8192;
const AES_256_BYTES = 32;
/** Input of the fingerprint MAC of a secret key: fixed, so the fingerprint depends on the key alone. */
const FINGERPRINT_DOMAIN = Buffer.from('keybridge key material id v1', 'ascii');
const MATERIAL_ID_PREFIX = Buffer.from('keybridge-kmid-v1\0', 'ascii');
/** What an imported private key signs to prove it belongs to the public key derived for it. */
const SELF_TEST_MESSAGE = Buffer.from('keybridge imported key self-test', 'ascii');

/**
 * HMAC key material lengths AWS KMS accepts, in bytes: from the hash's output length to the
 * block size (HMAC_224/256: 64 bytes; HMAC_384/512: 128 bytes).
 */
const HMAC_MATERIAL_BYTES: Record<HmacSpec, { readonly min: number; readonly max: number }> = {
  HMAC_224: { min: 28, max: 64 },
  HMAC_256: { min: 32, max: 64 },
  HMAC_384: { min: 48, max: 128 },
  HMAC_512: { min: 64, max: 128 },
};

const HMAC_MECHANISM: Record<HmacSpec, { readonly name: string; readonly mechanism: number; readonly bytes: number }> = {
  HMAC_224: { name: 'CKM_SHA224_HMAC', mechanism: pkcs11js.CKM_SHA224_HMAC, bytes: 28 },
  HMAC_256: { name: 'CKM_SHA256_HMAC', mechanism: pkcs11js.CKM_SHA256_HMAC, bytes: 32 },
  HMAC_384: { name: 'CKM_SHA384_HMAC', mechanism: pkcs11js.CKM_SHA384_HMAC, bytes: 48 },
  HMAC_512: { name: 'CKM_SHA512_HMAC', mechanism: pkcs11js.CKM_SHA512_HMAC, bytes: 64 },
};

// Refusals of a mechanism's parameters or of the mechanism itself: the token cannot do this at all.
// SoftHSM2 2.6.1 refuses OAEP with SHA-256 with CKR_ARGUMENTS_BAD (its MechParamCheckRSAPKCSOAEP).
const PARAMETERS_REFUSED: ReadonlySet<number> = new Set([CKR.CKR_ARGUMENTS_BAD, CKR.CKR_MECHANISM_PARAM_INVALID, CKR.CKR_MECHANISM_INVALID]);

// C_UnwrapKey failures that are about the wrapped value: it did not decrypt, or it is not a key of
// the kind asked for. SoftHSM2 2.6.1 answers a tampered OAEP or RFC 5649 blob with
// CKR_GENERAL_ERROR and a PKCS#8 of another key type with CKR_FUNCTION_FAILED; 2.7.0 and other
// tokens use the specific codes. Which of the two it was, unwrapAsOrExplain finds out.
const UNWRAP_REFUSED: ReadonlySet<number> = new Set([
  CKR.CKR_GENERAL_ERROR,
  CKR.CKR_FUNCTION_FAILED,
  CKR.CKR_WRAPPED_KEY_INVALID,
  CKR.CKR_WRAPPED_KEY_LEN_RANGE,
  CKR.CKR_ENCRYPTED_DATA_INVALID,
  CKR.CKR_ENCRYPTED_DATA_LEN_RANGE,
  CKR.CKR_DATA_INVALID,
  CKR.CKR_DATA_LEN_RANGE,
  CKR.CKR_TEMPLATE_INCONSISTENT,
  CKR.CKR_KEY_TYPE_INCONSISTENT,
  CKR.CKR_ATTRIBUTE_VALUE_INVALID,
  CKR.CKR_KEY_SIZE_RANGE,
]);

// --- The wrapping key pair ----------------------------------------------------------------------

/** Generates the wrapping key pair as token objects, checks the private key's flags, returns the DER SPKI. */
export async function generateImportWrappingKey(ctx: ImportContext, ref: BackingKeyRef, spec: ImportWrappingKeySpec): Promise<Buffer> {
  const templates = importWrappingKeyTemplates(ref, spec);
  // Two objects with one CKA_ID would make every later lookup ambiguous (any object class).
  if (ctx.find([{ type: pkcs11js.CKA_ID, value: backingKeyId(ref) }], 1).length > 0) {
    throw new HsmError('HSM_FAILED', 'a key object with this CKA_ID already exists');
  }
  const pair = await asymmetric.generateKeyPair(ctx.pkcs11, ctx.session, spec, templates);
  try {
    ctx.checkFlags(pair.privateKey, IMPORT_WRAPPING_KEY_FLAGS);
    return asymmetric.readPublicKey(ctx.pkcs11, ctx.session, pair.publicKey, spec);
  } catch (err) {
    destroyQuietly(ctx, pair.privateKey);
    destroyQuietly(ctx, pair.publicKey);
    throw err;
  }
}

/** The private key of an import wrapping key pair; HSM_KEY_NOT_FOUND when it is gone (or never was). */
export function findImportWrappingKey(ctx: ImportContext, ref: BackingKeyRef): Handle {
  const found = ctx.find(findImportWrappingKeyTemplate(ref), 2);
  if (found.length === 0) throw new HsmError('HSM_KEY_NOT_FOUND', 'no import wrapping key with this id on the token');
  if (found.length > 1) throw new HsmError('HSM_FAILED', 'several import wrapping keys share this CKA_ID');
  return found[0]!;
}

// --- What the token can import ------------------------------------------------------------------

export function oaepHashOf(algorithm: ImportWrappingAlgorithm): 'sha1' | 'sha256' {
  return algorithm.endsWith('_SHA_1') ? 'sha1' : 'sha256';
}

const HASH_DESCRIPTION: Record<'sha1' | 'sha256', string> = { sha1: 'SHA-1 (MGF1-SHA-1)', sha256: 'SHA-256 (MGF1-SHA-256)' };

interface MechanismNeed {
  readonly name: string;
  readonly mechanism: number;
  readonly flags: number;
  readonly use: string;
}

const need = (name: string, mechanism: number, flags: number, use: string): MechanismNeed => ({ name, mechanism, flags, use });

/** The mechanisms an import with `algorithm` needs, and, given the key's target, the rest of the staged import. */
function importNeeds(algorithm: ImportWrappingAlgorithm, target?: ImportTarget): MechanismNeed[] {
  const needs = [need('CKM_RSA_PKCS_OAEP', pkcs11js.CKM_RSA_PKCS_OAEP, pkcs11js.CKF_UNWRAP, 'unwrapping')];
  if (algorithm.startsWith('RSA_AES_KEY_WRAP')) needs.push(need('CKM_AES_KEY_WRAP_PAD', pkcs11js.CKM_AES_KEY_WRAP_PAD, pkcs11js.CKF_UNWRAP, 'unwrapping'));
  if (target === undefined) return needs;
  needs.push(need('CKM_AES_KEY_GEN', pkcs11js.CKM_AES_KEY_GEN, pkcs11js.CKF_GENERATE, 'generating keys'));
  const { name, mechanism } = transportMechanism(target);
  needs.push(need(name, mechanism, pkcs11js.CKF_WRAP | pkcs11js.CKF_UNWRAP, 'wrapping and unwrapping'));
  switch (target.kind) {
    case 'aes':
      return [...needs, need('CKM_AES_CMAC', pkcs11js.CKM_AES_CMAC, pkcs11js.CKF_SIGN, 'signing')];
    case 'hmac':
      return [...needs, need(HMAC_MECHANISM[target.spec].name, HMAC_MECHANISM[target.spec].mechanism, pkcs11js.CKF_SIGN, 'signing')];
    case 'rsa':
      return [...needs, need('CKM_RSA_PKCS', pkcs11js.CKM_RSA_PKCS, pkcs11js.CKF_SIGN, 'signing')];
    case 'ec':
      return [
        ...needs,
        need('CKM_ECDSA', pkcs11js.CKM_ECDSA, pkcs11js.CKF_SIGN, 'signing'),
        need('CKM_ECDH1_DERIVE', pkcs11js.CKM_ECDH1_DERIVE, pkcs11js.CKF_DERIVE, 'deriving'),
      ];
  }
}

/** The first mechanism (and use) the token does not list that an import with `algorithm` needs; undefined when none. */
export function missingImportMechanism(table: MechanismTable, algorithm: ImportWrappingAlgorithm, target?: ImportTarget): string | undefined {
  for (const { name, mechanism, flags, use } of importNeeds(algorithm, target)) {
    const info = table.get(mechanism);
    if (info === undefined || (info.flags & flags) !== flags) return `the HSM does not support ${name} for ${use}, which importing key material needs`;
  }
  return undefined;
}

/**
 * Why the token cannot unwrap with CKM_RSA_PKCS_OAEP over `hash`, or undefined when it can. The
 * mechanism list cannot tell (SoftHSM2 2.6.1 lists OAEP but takes only SHA-1 in its parameters),
 * so this tries: an unwrap of an all-zero block (c = 0, never a valid OAEP block) with the wrapping
 * key. A refusal of the parameters means the token cannot; a decryption failure means it can.
 */
export function oaepUnwrapRefusal(ctx: ImportContext, wrappingKey: Handle, hash: 'sha1' | 'sha256'): string | undefined {
  const block = Buffer.alloc(asymmetric.modulusBytes(ctx.pkcs11, ctx.session, wrappingKey));
  try {
    destroyQuietly(ctx, ctx.pkcs11.C_UnwrapKey(ctx.session, asymmetric.oaep(hash), wrappingKey, block, TYPE_PROBE_TEMPLATE));
    return undefined;
  } catch (err) {
    const code = ckrOf(err);
    if (code !== undefined && PARAMETERS_REFUSED.has(code)) {
      return `the HSM cannot unwrap with CKM_RSA_PKCS_OAEP using ${HASH_DESCRIPTION[hash]}: it answers ${ckrName(code)}`;
    }
    if (code !== undefined && isUnwrapRefusal(ctx, code)) return undefined;
    throw err;
  }
}

// --- The import ---------------------------------------------------------------------------------

/** What the KMS key's material becomes; HSM_UNSUPPORTED for what keybridge cannot import. */
export function importTarget(spec: KeySpec, usage: KeyUsage): ImportTarget {
  if (spec === 'SYMMETRIC_DEFAULT') return { kind: 'aes' };
  if (isHmacSpec(spec)) return { kind: 'hmac', spec };
  if (isRsaSpec(spec)) return { kind: 'rsa', spec, usage };
  if (isEccSpec(spec)) return { kind: 'ec', spec, usage };
  // ECC_NIST_EDWARDS25519. SoftHSM2 2.6.1's C_UnwrapKey knows RSA, DSA, DH, EC and GOST private
  // keys only: an Ed25519 PKCS#8 fails with CKR_FUNCTION_FAILED (measured, with CKK_EC and
  // CKK_EC_EDWARDS), and an Ed25519 key cannot be wrapped for the staged import's re-wrap either.
  throw new HsmError('HSM_UNSUPPORTED', `importing ${spec} key material is not supported: Ed25519 private keys cannot be unwrapped into the HSM (SoftHSM2 2.6.1 cannot)`);
}

/** The public facts of the staged material, learnt in the token. */
interface Inspection {
  /** The material wrapped under the transport key W (ciphertext under a key that never leaves the token). */
  readonly wrapped: Buffer;
  /** Depends on the material alone; enters the material id. */
  readonly fingerprint: Buffer;
  /** Key pairs: DER SPKI and the public object's value attributes. */
  readonly publicKey?: { readonly spki: Buffer; readonly values: pkcs11js.Template };
}

/**
 * Imports the material of `request` (see the file comment). Throws HsmError: HSM_KEY_NOT_FOUND (no
 * such wrapping key), HSM_DECRYPT_FAILED, HSM_INCORRECT_KEY_MATERIAL, HSM_UNSUPPORTED.
 */
export async function importKeyMaterial(ctx: ImportContext, request: ImportKeyMaterialRequest): Promise<{ imported: ImportedKeyMaterial; created: CreatedObject[] }> {
  const target = importTarget(request.keySpec, request.keyUsage);
  const missing = missingImportMechanism(ctx.mechanisms, request.algorithm, target);
  if (missing !== undefined) throw new HsmError('HSM_UNSUPPORTED', missing);
  const wrappingKey = findImportWrappingKey(ctx, request.wrappingKey);
  const staged = unwrapStaged(ctx, request, wrappingKey, target);
  let transportKey: Handle | undefined;
  try {
    transportKey = ctx.pkcs11.C_GenerateKey(ctx.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, TRANSPORT_KEY_TEMPLATE);
    const inspection = await inspect(ctx, staged, transportKey, target);
    try {
      const materialId = materialIdOf(request.keyId, inspection.fingerprint);
      const ref: BackingKeyRef = { id: materialId, label: request.keyArn };
      const created = store(ctx, ref, target, transportKey, inspection);
      return {
        imported: {
          materialId,
          alreadyPresent: created.alreadyPresent,
          ...(inspection.publicKey === undefined ? {} : { publicKey: inspection.publicKey.spki }),
        },
        created: created.objects,
      };
    } finally {
      inspection.wrapped.fill(0);
    }
  } finally {
    if (transportKey !== undefined) destroyQuietly(ctx, transportKey);
    destroyQuietly(ctx, staged);
  }
}

/** hex(SHA-256("keybridge-kmid-v1\0" ‖ keyId ‖ "\0" ‖ fingerprint)): 64 hex digits, per (key, material). */
export function materialIdOf(keyId: string, fingerprint: Buffer): string {
  return createHash('sha256').update(MATERIAL_ID_PREFIX).update(keyId, 'utf8').update('\0').update(fingerprint).digest('hex');
}

// --- Step 1: unwrap into the staging object ------------------------------------------------------

function unwrapStaged(ctx: ImportContext, request: ImportKeyMaterialRequest, wrappingKey: Handle, target: ImportTarget): Handle {
  const hash = oaepHashOf(request.algorithm);
  const rsa: Unwrapper = { mechanism: asymmetric.oaep(hash), name: `CKM_RSA_PKCS_OAEP using ${HASH_DESCRIPTION[hash]}`, key: wrappingKey };
  const modulusBytes = RSA_BITS[request.wrappingKeySpec] / 8;
  const blob = request.encryptedMaterial;
  const staging = { template: stagingTemplate(target), what: describe(target) };
  if (request.algorithm.startsWith('RSAES_OAEP')) {
    if (blob.length !== modulusBytes) throw wrongLength(`an RSAES-OAEP block under this wrapping key is ${modulusBytes} bytes`);
    return unwrapAsOrExplain(ctx, rsa, blob, staging);
  }
  // RSA_AES_KEY_WRAP_*: OAEP(ephemeral AES key) ‖ RFC 5649 wrap of the material under it.
  if (blob.length <= modulusBytes) throw wrongLength(`RSA_AES_KEY_WRAP material is an RSAES-OAEP block of ${modulusBytes} bytes followed by an AES key wrap`);
  const kek = unwrapAsOrExplain(ctx, rsa, blob.subarray(0, modulusBytes), { template: EPHEMERAL_KEK_TEMPLATE, what: 'an AES key' });
  try {
    return unwrapAsOrExplain(ctx, { mechanism: AES_KEY_WRAP_PAD, name: 'CKM_AES_KEY_WRAP_PAD', key: kek }, blob.subarray(modulusBytes), staging);
  } finally {
    destroyQuietly(ctx, kek);
  }
}

function describe(target: ImportTarget): string {
  switch (target.kind) {
    case 'aes':
      return 'an AES key';
    case 'hmac':
      return 'an HMAC key';
    case 'rsa':
      return 'an RSA private key (PKCS#8)';
    case 'ec':
      return 'an EC private key (PKCS#8)';
  }
}

interface Unwrapper {
  readonly mechanism: pkcs11js.Mechanism;
  readonly name: string;
  readonly key: Handle;
}

/**
 * C_UnwrapKey into `as.template`. When the token refuses the wrapped value, the same value is
 * unwrapped once more as a generic secret that can do nothing: if that works, the blob decrypted
 * and the material is not `as.what` (HSM_INCORRECT_KEY_MATERIAL); if not, it did not decrypt
 * (HSM_DECRYPT_FAILED). Tokens do not agree on codes for the two (SoftHSM2 2.6.1 gives generic
 * ones for both), so the outcome of the second unwrap decides, not the code.
 */
function unwrapAsOrExplain(ctx: ImportContext, by: Unwrapper, wrapped: Buffer, as: { template: pkcs11js.Template; what: string }): Handle {
  try {
    return ctx.pkcs11.C_UnwrapKey(ctx.session, by.mechanism, by.key, wrapped, as.template);
  } catch (err) {
    const code = ckrOf(err);
    if (code !== undefined && PARAMETERS_REFUSED.has(code)) {
      throw new HsmError('HSM_UNSUPPORTED', `the HSM refuses to unwrap with ${by.name} (${ckrName(code)})`, { ckr: code, cause: err });
    }
    if (code === undefined || !isUnwrapRefusal(ctx, code)) throw err;
    if (unwrapsAsGenericSecret(ctx, by, wrapped)) {
      throw new HsmError('HSM_INCORRECT_KEY_MATERIAL', `the key material unwraps but is not ${as.what} (${ckrName(code)})`, { ckr: code, cause: err });
    }
    throw new HsmError('HSM_DECRYPT_FAILED', `the key material does not unwrap under the wrapping key (${ckrName(code)})`, { ckr: code, cause: err });
  }
}

function unwrapsAsGenericSecret(ctx: ImportContext, by: Unwrapper, wrapped: Buffer): boolean {
  try {
    destroyQuietly(ctx, ctx.pkcs11.C_UnwrapKey(ctx.session, by.mechanism, by.key, wrapped, TYPE_PROBE_TEMPLATE));
    return true;
  } catch (err) {
    const code = ckrOf(err);
    if (code !== undefined && isUnwrapRefusal(ctx, code)) return false;
    throw err;
  }
}

function isUnwrapRefusal(ctx: ImportContext, code: number): boolean {
  return UNWRAP_REFUSED.has(code) || ctx.badTagCodes.has(code);
}

function wrongLength(message: string): HsmError {
  return new HsmError('HSM_DECRYPT_FAILED', message);
}

// --- Steps 2 and 3: check and fingerprint, without reading the material ---------------------------

function inspect(ctx: ImportContext, staged: Handle, transportKey: Handle, target: ImportTarget): Promise<Inspection> {
  switch (target.kind) {
    case 'aes':
      return inspectAes(ctx, staged, transportKey);
    case 'hmac':
      return inspectHmac(ctx, staged, transportKey, target.spec);
    case 'rsa':
      return inspectRsa(ctx, staged, transportKey, target.spec);
    case 'ec':
      return inspectEc(ctx, staged, transportKey, target.spec);
  }
}

function incorrect(message: string, cause?: unknown): HsmError {
  const code = ckrOf(cause);
  return new HsmError('HSM_INCORRECT_KEY_MATERIAL', message, { ...(code === undefined ? {} : { ckr: code }), ...(cause === undefined ? {} : { cause }) });
}

/**
 * SYMMETRIC_DEFAULT material is exactly 32 bytes. SoftHSM2 2.6.1 accepts an AES key of any length
 * at unwrap and reads CKA_VALUE_LEN as 0 afterwards, so the length is established in the token:
 * an RFC 3394 wrap of S is 40 bytes for 32 bytes of material — and also for 25 to 31, which
 * SoftHSM2 2.6.1 zero-pads to whole blocks instead of refusing (measured). Of 25–32 bytes only 32
 * is an AES key length, and the CMAC of the fingerprint refuses the others (SoftHSM2 2.6.1:
 * CKR_MECHANISM_INVALID at C_SignInit, though it lists CKM_AES_CMAC).
 */
async function inspectAes(ctx: ImportContext, staged: Handle, transportKey: Handle): Promise<Inspection> {
  const mustBe = `SYMMETRIC_DEFAULT key material must be ${AES_256_BYTES} bytes`;
  const valueLen = readValueLen(ctx, staged);
  if (valueLen !== 0 && valueLen !== AES_256_BYTES) throw incorrect(`${mustBe}, not ${valueLen}`);
  let wrapped: Buffer;
  try {
    wrapped = wrapKey(ctx, AES_KEY_WRAP, transportKey, staged);
  } catch (err) {
    // Below two blocks (16 bytes) RFC 3394 has nothing to wrap: CKR_KEY_SIZE_RANGE.
    if (ckrOf(err) === CKR.CKR_KEY_SIZE_RANGE) throw incorrect(mustBe, err);
    throw err;
  }
  try {
    if (wrapped.length !== AES_256_BYTES + 8) throw incorrect(`${mustBe}, not ${describeLength(lengthsWrappingTo(wrapped.length))}`);
    const fingerprint = await signForFingerprint(ctx, { mechanism: pkcs11js.CKM_AES_CMAC }, staged, 16, mustBe);
    return { wrapped, fingerprint };
  } catch (err) {
    wrapped.fill(0);
    throw err;
  }
}

/**
 * HMAC material must be HMAC_MATERIAL_BYTES long. The length is CKA_VALUE_LEN where the token
 * reports it after an unwrap; SoftHSM2 2.6.1 reports 0. Then an RFC 5649 wrap of S (8 + 8·⌈len/8⌉
 * bytes) gives it to within 8 bytes, which is exact at the upper bounds (64 and 128 are whole
 * blocks); every length it cannot exclude is accepted. An RFC 3394 wrap would not narrow it down:
 * SoftHSM2 2.6.1 zero-pads the key instead of refusing a length that is no multiple of 8. At the
 * lower bound, the fingerprint's HMAC is computed with the spec's own mechanism, whose minimum key
 * size SoftHSM2 2.6.1 enforces as exactly AWS's minimum (CKR_KEY_SIZE_RANGE at C_SignInit below
 * 28/32/48/64 bytes), so on SoftHSM2 every bound is exact.
 *
 * The fingerprint is that HMAC over a fixed input: two materials share it only when they are the
 * same HMAC key for this spec (e.g. K and K‖0x00, which HMAC pads alike), which is what the
 * material id should say.
 */
async function inspectHmac(ctx: ImportContext, staged: Handle, transportKey: Handle, spec: HmacSpec): Promise<Inspection> {
  const { min, max } = HMAC_MATERIAL_BYTES[spec];
  const mustBe = `${spec} key material must be ${min} to ${max} bytes`;
  const valueLen = readValueLen(ctx, staged);
  const wrapped = wrapKey(ctx, AES_KEY_WRAP_PAD, transportKey, staged);
  try {
    const lengths = valueLen !== 0 ? { shortest: valueLen, longest: valueLen } : lengthsWrappingTo(wrapped.length);
    if (lengths.longest < min || lengths.shortest > max) throw incorrect(`${mustBe}, not ${describeLength(lengths)}`);
    const fingerprint = await signForFingerprint(ctx, { mechanism: HMAC_MECHANISM[spec].mechanism }, staged, HMAC_MECHANISM[spec].bytes, mustBe);
    return { wrapped, fingerprint };
  } catch (err) {
    wrapped.fill(0);
    throw err;
  }
}

/**
 * The MAC of FINGERPRINT_DOMAIN under S. A refusal of the key's size (or, with a mechanism the
 * token lists, of the mechanism: SoftHSM2 2.6.1's answer to an AES key of no AES length) means
 * the material has the wrong length.
 */
async function signForFingerprint(ctx: ImportContext, mechanism: pkcs11js.Mechanism, staged: Handle, bytes: number, mustBe: string): Promise<Buffer> {
  try {
    ctx.pkcs11.C_SignInit(ctx.session, mechanism, staged);
  } catch (err) {
    const code = ckrOf(err);
    if (code === CKR.CKR_KEY_SIZE_RANGE || code === CKR.CKR_MECHANISM_INVALID) throw incorrect(`${mustBe}; the HSM refuses this one's length (${ckrName(code)})`, err);
    throw err;
  }
  const mac = Buffer.from(await ctx.pkcs11.C_Sign(ctx.session, FINGERPRINT_DOMAIN, Buffer.alloc(bytes)));
  if (mac.length !== bytes) throw new HsmError('HSM_FAILED', 'the fingerprint MAC has an unexpected length');
  return mac;
}

/** RSA material: an RSA private key of the spec's modulus size, consistent with its public key. */
async function inspectRsa(ctx: ImportContext, staged: Handle, transportKey: Handle, spec: RsaSpec): Promise<Inspection> {
  const [keyType, modulus, publicExponent] = ctx.pkcs11
    .C_GetAttributeValue(ctx.session, staged, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }])
    .map((attr) => Buffer.from(attr.value));
  checkKeyType(keyType, pkcs11js.CKK_RSA, 'an RSA private key');
  const bits = bitLength(modulus!);
  if (bits !== RSA_BITS[spec]) throw incorrect(`${spec} key material must be a ${RSA_BITS[spec]}-bit RSA key, not ${bits}-bit`);
  const spki = spkiDer(spec, { modulus: modulus!, publicExponent: publicExponent! });
  const signature = await asymmetric.sign(ctx.pkcs11, ctx.session, staged, 'RSASSA_PKCS1_V1_5_SHA_256', selfTestDigest());
  if (!verifiesUnder(spki, signature)) throw incorrect('the RSA private key does not match its own public key');
  return {
    wrapped: wrapKey(ctx, AES_KEY_WRAP_PAD, transportKey, staged),
    fingerprint: spki,
    publicKey: {
      spki,
      values: [
        { type: pkcs11js.CKA_MODULUS, value: modulus! },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: publicExponent! },
      ],
    },
  };
}

/**
 * EC material: a private key on the spec's curve. Its public point is not readable from a private
 * key object (SoftHSM2 2.6.1: CKA_EC_POINT is CKR_ATTRIBUTE_TYPE_INVALID), so it is derived in the
 * token: ECDH with the curve's generator G yields x(dG) = x(Q); of the two points with that x, Q is
 * the one under which a signature by S verifies.
 */
async function inspectEc(ctx: ImportContext, staged: Handle, transportKey: Handle, spec: EccSpec): Promise<Inspection> {
  const [keyType, ecParams] = ctx.pkcs11
    .C_GetAttributeValue(ctx.session, staged, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_EC_PARAMS }])
    .map((attr) => Buffer.from(attr.value));
  checkKeyType(keyType, pkcs11js.CKK_EC, 'an EC private key');
  if (!ecParams!.equals(EC_PARAMS[spec])) throw incorrect(`${spec} key material must be a private key on that curve; this one is on another`);
  const x = await asymmetric.ecdh(ctx.pkcs11, ctx.session, staged, generatorPoint(spec), COORDINATE_BYTES[spec]);
  const candidates = pointsWithX(spec, x);
  if (candidates === undefined) throw incorrect(`the EC private key has no public point on ${spec}`);
  const signature = await asymmetric.sign(ctx.pkcs11, ctx.session, staged, 'ECDSA_SHA_256', selfTestDigest());
  const point = candidates.find((candidate) => verifiesUnder(spkiDer(spec, { point: candidate }), signature));
  if (point === undefined) throw incorrect('the EC private key does not sign like a key on its curve');
  const spki = spkiDer(spec, { point });
  return {
    wrapped: wrapKey(ctx, AES_KEY_WRAP_PAD, transportKey, staged),
    fingerprint: spki,
    publicKey: {
      spki,
      values: [
        { type: pkcs11js.CKA_EC_PARAMS, value: EC_PARAMS[spec] },
        { type: pkcs11js.CKA_EC_POINT, value: ecPointAttribute(point) },
      ],
    },
  };
}

function checkKeyType(value: Buffer | undefined, expected: number, what: string): void {
  if (ulong(value) !== expected) throw incorrect(`the key material is not ${what}`);
}

function selfTestDigest(): Buffer {
  return createHash('sha256').update(SELF_TEST_MESSAGE).digest();
}

/** Whether `signature` (PKCS#1 v1.5 or DER ECDSA over SHA-256 of SELF_TEST_MESSAGE) verifies under the SPKI. */
function verifiesUnder(spki: Buffer, signature: Buffer): boolean {
  return nodeVerify('sha256', SELF_TEST_MESSAGE, { key: spki, format: 'der', type: 'spki' }, signature);
}

function bitLength(unsigned: Buffer): number {
  let at = 0;
  while (at < unsigned.length && unsigned[at] === 0) at++;
  if (at === unsigned.length) return 0;
  return (unsigned.length - at - 1) * 8 + (32 - Math.clz32(unsigned[at]!));
}

/**
 * The key lengths whose wrap is `wrappedLength` bytes: RFC 5649 adds 8 bytes to the key padded to
 * whole 8-byte blocks, and SoftHSM2 2.6.1's RFC 3394 wrap does the same (it zero-pads).
 */
function lengthsWrappingTo(wrappedLength: number): { shortest: number; longest: number } {
  return { shortest: Math.max(1, wrappedLength - 15), longest: wrappedLength - 8 };
}

function describeLength({ shortest, longest }: { shortest: number; longest: number }): string {
  return shortest === longest ? `${shortest}` : `${shortest} to ${longest}`;
}

function readValueLen(ctx: ImportContext, key: Handle): number {
  return ulong(ctx.pkcs11.C_GetAttributeValue(ctx.session, key, [{ type: pkcs11js.CKA_VALUE_LEN }])[0]?.value) ?? 0;
}

/** S wrapped under the transport key: a Buffer of its own (pkcs11js returns a view of the output buffer). */
function wrapKey(ctx: ImportContext, mechanism: pkcs11js.Mechanism, transportKey: Handle, key: Handle): Buffer {
  const out = Buffer.alloc(MAX_WRAPPED_BYTES);
  try {
    return Buffer.from(ctx.pkcs11.C_WrapKey(ctx.session, mechanism, transportKey, key, out));
  } finally {
    out.fill(0);
  }
}

// --- Step 4: the material's token objects ----------------------------------------------------------

/** RFC 3394 for AES keys (a whole number of blocks); RFC 5649 for the rest. */
function transportMechanism(target: ImportTarget): { name: string; mechanism: number } {
  return target.kind === 'aes' ? { name: 'CKM_AES_KEY_WRAP', mechanism: pkcs11js.CKM_AES_KEY_WRAP } : { name: 'CKM_AES_KEY_WRAP_PAD', mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
}

/**
 * Creates the material's object(s) under `ref` unless they are there already (the same material
 * imported into the same key before). A key pair's public object is created when it is missing,
 * even next to an existing private key: a failed import may have left only that.
 */
function store(ctx: ImportContext, ref: BackingKeyRef, target: ImportTarget, transportKey: Handle, inspection: Inspection): { alreadyPresent: boolean; objects: CreatedObject[] } {
  const id = Buffer.from(ref.id, 'hex');
  const objectClass = objectClassOf(target);
  const alreadyPresent = ctx.find(findByIdAndClassTemplate(id, objectClass), 1).length > 0;
  const objects: CreatedObject[] = [];
  if (!alreadyPresent) {
    const template = importedKeyTemplate(ref, target);
    const handle = ctx.pkcs11.C_UnwrapKey(ctx.session, { mechanism: transportMechanism(target).mechanism }, transportKey, inspection.wrapped, template);
    verifyOrDestroy(ctx, handle, () => {
      ctx.checkFlags(handle, importedObjectFlags(objectClass === pkcs11js.CKO_SECRET_KEY ? 'secret' : 'private', template));
      const keyType = ulong(ctx.pkcs11.C_GetAttributeValue(ctx.session, handle, [{ type: pkcs11js.CKA_KEY_TYPE }])[0]?.value);
      if (keyType !== keyTypeOf(target)) throw new HsmError('HSM_FAILED', 'the token did not honour the key template (CKA_KEY_TYPE)');
    });
    objects.push({ objectClass, handle });
  }
  if ((target.kind === 'rsa' || target.kind === 'ec') && inspection.publicKey !== undefined) {
    try {
      const publicKey = ensurePublicObject(ctx, ref, target, id, inspection.publicKey);
      if (publicKey !== undefined) objects.push({ objectClass: pkcs11js.CKO_PUBLIC_KEY, handle: publicKey });
    } catch (err) {
      for (const created of objects) destroyQuietly(ctx, created.handle);
      throw err;
    }
  }
  return { alreadyPresent, objects };
}

function ensurePublicObject(
  ctx: ImportContext,
  ref: BackingKeyRef,
  target: ImportTarget & { kind: 'rsa' | 'ec' },
  id: Buffer,
  publicKey: NonNullable<Inspection['publicKey']>,
): Handle | undefined {
  if (ctx.find(findByIdAndClassTemplate(id, pkcs11js.CKO_PUBLIC_KEY), 1).length > 0) return undefined;
  const template = importedPublicKeyTemplate(ref, target, publicKey.values);
  const handle = ctx.pkcs11.C_CreateObject(ctx.session, template);
  verifyOrDestroy(ctx, handle, () => {
    ctx.checkFlags(handle, importedObjectFlags('public', template));
    // What GetPublicKey will read back is the key derived from the private key.
    if (!asymmetric.readPublicKey(ctx.pkcs11, ctx.session, handle, target.spec).equals(publicKey.spki)) {
      throw new HsmError('HSM_FAILED', 'the created public key object does not read back as the derived public key');
    }
  });
  return handle;
}

// The template is a request; a token may silently ignore parts of it. Prove the promise held.
function verifyOrDestroy(ctx: ImportContext, handle: Handle, verify: () => void): void {
  try {
    verify();
  } catch (err) {
    destroyQuietly(ctx, handle);
    throw err;
  }
}

function destroyQuietly(ctx: ImportContext, handle: Handle): void {
  try {
    ctx.pkcs11.C_DestroyObject(ctx.session, handle);
  } catch {
    // A session object dies with its session; a token object is reported by listSymmetricKeys.
  }
}
