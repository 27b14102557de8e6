// Seeded fuzzing of the whole API over real HTTP: a few thousand malformed or random requests
// across every operation in the registry. Whatever comes in, keybridge must answer with an AWS
// error shape from the error table (never a 5xx, never a non-JSON body), stay up, and change
// nothing: every request to an operation that changes state is invalid by construction, and the
// complete visible state (plus the HSM's key objects) is compared before and after.
//
// Reproduce a run with KEYBRIDGE_FUZZ_SEED=<seed> (printed at the start); KEYBRIDGE_FUZZ_COUNT
// changes the number of requests; KEYBRIDGE_FUZZ_BY_OPERATION=1 tallies the answers per operation.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KMS_ERRORS } from '../../src/domain/errors.js';
import { MAX_JSON_DEPTH } from '../../src/http/amz-json.js';
import { OPERATIONS, OPERATIONS_BY_NAME } from '../../src/operations/registry.js';
import { rawRequest, type RawRequest, type RawResponse } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

const AMZ_JSON = 'application/x-amz-json-1.1';
const SEED = Number(process.env.KEYBRIDGE_FUZZ_SEED ?? 0x6b627a31) >>> 0;
const COUNT = Number(process.env.KEYBRIDGE_FUZZ_COUNT ?? 3000);
/** The fuzz loop stops here even if COUNT is not reached (the test then needs ≥ COUNT/3). */
const TIME_BUDGET_MS = 40_000;
const CONCURRENCY = 8;

/**
 * Operations that never change state. Every other operation in the registry (including ones added
 * later) counts as state-changing: the generator poisons its requests and a 200 from it fails.
 */
const READ_ONLY = new Set([
  'DescribeKey', 'ListKeys', 'ListAliases', 'ListResourceTags', 'GetKeyPolicy', 'ListKeyPolicies',
  'Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateRandom',
  'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext', 'Sign', 'Verify', 'GetPublicKey', 'GenerateMac', 'VerifyMac',
  'DeriveSharedSecret', 'ListGrants', 'ListRetirableGrants', 'DescribeCustomKeyStores',
]);

// ---- Deterministic randomness --------------------------------------------------------------------

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32: [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
  hex(n: number): string {
    return this.bytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
  }
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }
  ascii(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.int(0x20, 0x7e));
    return s;
  }
}

const UNICODE = [
  'é', 'ß', '中文', '日本語', 'العربية', 'עברית', '🔑', '👩‍💻', '🏳️‍🌈', '\u0000', '\u0001', '\u001f', '\u007f', '\u200b', '\u200e',
  '\u202e', '\ufeff', '\uffff', '\ud800', '\udfff', 'ǅ', 'ﬁ', 'Å', 'Å', '\u0301', '\n', '\r\n', '\t', '"', '\\', '/', "'", '%00', '${x}',
  '{{7*7}}', '<script>', '../..', ' OR 1=1 --', '; DROP TABLE keys;',
];

// ---- Schema introspection (zod 4) ------------------------------------------------------------------

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'record' | 'object' | 'enum' | 'blob' | 'other';
interface Member {
  readonly name: string;
  readonly kind: Kind;
  readonly required: boolean;
  readonly enumValues: readonly string[];
  readonly elementKind?: Kind;
}

function kindOf(schema: any): { kind: Kind; required: boolean; enumValues: string[]; elementKind?: Kind } {
  let def = schema?._zod?.def;
  let required = true;
  while (def && (def.type === 'optional' || def.type === 'default' || def.type === 'nullable')) {
    required = false;
    def = def.innerType?._zod?.def;
  }
  if (!def) return { kind: 'other', required, enumValues: [] };
  switch (def.type) {
    case 'pipe':
      return { kind: 'blob', required, enumValues: [] };
    case 'string':
    case 'number':
    case 'boolean':
    case 'record':
    case 'object':
      return { kind: def.type, required, enumValues: [] };
    case 'enum':
      return { kind: 'enum', required, enumValues: Object.values(def.entries ?? {}).map(String) };
    case 'array':
      return { kind: 'array', required, enumValues: [], elementKind: kindOf(def.element).kind };
    default:
      return { kind: 'other', required, enumValues: [] };
  }
}

function membersOf(schema: any): Member[] {
  const shape = schema?._zod?.def?.shape as Record<string, unknown> | undefined;
  if (!shape) return [];
  return Object.entries(shape).map(([name, member]) => ({ name, ...kindOf(member) }));
}

// ---- The world the fuzzer knows about ---------------------------------------------------------------

interface Fixture {
  readonly keyIds: string[];
  readonly keyArns: string[];
  readonly aliases: string[];
  readonly ciphertexts: Buffer[];
}

let server: TestServer;
let fixture: Fixture;

async function call(operation: string, body: unknown): Promise<RawResponse> {
  return rawRequest(server, { target: `TrentService.${operation}`, body: JSON.stringify(body) });
}

async function must(operation: string, body: unknown): Promise<any> {
  const res = await call(operation, body);
  assert.equal(res.status, 200, `${operation}: ${res.body}`);
  return res.json;
}

before(async () => {
  server = await startServer();
  const a = (await must('CreateKey', { Description: 'fuzz-a', Tags: [{ TagKey: 'env', TagValue: 'test' }, { TagKey: 'team', TagValue: 'kb' }] })).KeyMetadata;
  const b = (await must('CreateKey', { Description: 'fuzz-b' })).KeyMetadata;
  const c = (await must('CreateKey', { Description: 'fuzz-c' })).KeyMetadata;
  await must('CreateAlias', { AliasName: 'alias/fuzz-a', TargetKeyId: a.KeyId });
  await must('CreateAlias', { AliasName: 'alias/fuzz/b', TargetKeyId: b.KeyId });
  await must('PutKeyPolicy', {
    KeyId: a.KeyId,
    PolicyName: 'default',
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'fuzz', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${server.accountId}:root` }, Action: 'kms:*', Resource: '*' }] }),
  });
  const ciphertexts: Buffer[] = [];
  for (const [keyId, context] of [[a.KeyId, undefined], [a.KeyId, { purpose: 'fuzz' }], [b.KeyId, undefined]] as const) {
    const out = await must('Encrypt', { KeyId: keyId, Plaintext: Buffer.from('fuzz plaintext').toString('base64'), ...(context ? { EncryptionContext: context } : {}) });
    ciphertexts.push(Buffer.from(out.CiphertextBlob, 'base64'));
  }
  ciphertexts.push(Buffer.from((await must('GenerateDataKeyWithoutPlaintext', { KeyId: a.KeyId, KeySpec: 'AES_256' })).CiphertextBlob, 'base64'));
  await must('DisableKey', { KeyId: b.KeyId });
  await must('ScheduleKeyDeletion', { KeyId: c.KeyId, PendingWindowInDays: 7 });
  fixture = {
    keyIds: [a.KeyId, b.KeyId, c.KeyId],
    keyArns: [a.Arn, b.Arn, c.Arn],
    aliases: ['alias/fuzz-a', 'alias/fuzz/b'],
    ciphertexts,
  };
});

after(async () => {
  await server?.destroy();
});

// ---- State snapshot ---------------------------------------------------------------------------------

async function snapshot(): Promise<unknown> {
  const keys: Array<{ KeyId: string }> = [];
  let marker: string | undefined;
  do {
    const page = await must('ListKeys', { Limit: 2, ...(marker ? { Marker: marker } : {}) });
    keys.push(...page.Keys);
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  const perKey: Record<string, unknown> = {};
  for (const { KeyId } of keys) {
    perKey[KeyId] = {
      metadata: (await must('DescribeKey', { KeyId })).KeyMetadata,
      tags: (await must('ListResourceTags', { KeyId })).Tags,
      policy: (await must('GetKeyPolicy', { KeyId, PolicyName: 'default' })).Policy,
      aliases: (await must('ListAliases', { KeyId })).Aliases,
    };
  }
  const aliases = (await must('ListAliases', { Limit: 100 })).Aliases;
  const hsmObjects = (await server.keybridge.deps.hsm.listSymmetricKeys()).map((o) => `${o.id} ${o.label}`).sort();
  return { keys, perKey, aliases, hsmObjects };
}

// ---- Value generators -------------------------------------------------------------------------------

function unicodeString(rng: Rng, parts: number): string {
  let s = '';
  for (let i = 0; i < parts; i++) s += rng.chance(0.5) ? rng.pick(UNICODE) : rng.ascii(rng.int(1, 6));
  return s;
}

function randomString(rng: Rng): string {
  switch (rng.int(0, 7)) {
    case 0:
      return '';
    case 1:
      return rng.ascii(rng.int(1, 40));
    case 2:
      return unicodeString(rng, rng.int(1, 8));
    case 3:
      return 'x'.repeat(rng.pick([129, 257, 1025, 2049, 8193, 70_000, 140_000]));
    case 4:
      return rng.pick(UNICODE).repeat(rng.int(100, 5000));
    case 5:
      return rng.uuid();
    case 6:
      return ` ${rng.ascii(5)} `;
    default:
      return rng.hex(rng.int(1, 100));
  }
}

function randomNumber(rng: Rng): number {
  return rng.pick([0, -0, -1, 1, 2, 7, 30, 31, 50, 51, 100, 101, 1000, 1001, 1024, 1025, 4096, 2 ** 31, -(2 ** 31), 2 ** 53 + 2, 1e300, -1e300, 1.5, 0.1, 3.14159, Number.MIN_VALUE, -7]);
}

/** Any JSON value at all, possibly deep. */
function wildValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 3 ? 4 : 7)) {
    case 0:
      return null;
    case 1:
      return randomNumber(rng);
    case 2:
      return rng.chance(0.5);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
      return Array.from({ length: rng.int(0, 4) }, () => wildValue(rng, depth + 1));
    case 6: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) o[rng.chance(0.2) ? unicodeString(rng, 2) : rng.ascii(rng.int(1, 12))] = wildValue(rng, depth + 1);
      return o;
    }
    default: {
      let v: unknown = rng.pick(['leaf', 1, null, {}]);
      for (let i = rng.int(10, 200); i > 0; i--) v = rng.chance(0.5) ? [v] : { n: v };
      return v;
    }
  }
}

/** A value of a JSON kind different from the member's (never null): certain to fail parsing. */
function wrongKind(rng: Rng, kind: Kind): unknown {
  const candidates: unknown[] = [];
  if (kind !== 'string' && kind !== 'enum' && kind !== 'blob') candidates.push(randomString(rng), 'true', '5');
  if (kind !== 'number') candidates.push(randomNumber(rng), 0, -1);
  if (kind !== 'boolean') candidates.push(true, false);
  if (kind !== 'array') candidates.push([randomString(rng)], []);
  if (kind !== 'record' && kind !== 'object') candidates.push({ a: 'b' }, { Plaintext: 'x' });
  if (kind === 'number') candidates.push('5', '1e3');
  if (kind === 'boolean') candidates.push('true', 1);
  return rng.pick(candidates);
}

function keyRef(rng: Rng, region: string, account: string): string {
  switch (rng.int(0, 16)) {
    case 0:
    case 1:
      return rng.pick(fixture.keyIds);
    case 2:
      return rng.pick(fixture.keyArns);
    case 3:
      return rng.pick(fixture.aliases);
    case 4:
      return `arn:aws:kms:${region}:${account}:${rng.pick(fixture.aliases)}`;
    case 5:
      return rng.uuid();
    case 6:
      return rng.pick(fixture.keyIds).toUpperCase();
    case 7:
      return `arn:aws:kms:${rng.pick(['eu-west-1', region])}:${rng.pick(['999999999999', account])}:key/${rng.uuid()}`;
    case 8:
      return `arn:aws:kms:eu-west-1:${account}:key/${rng.pick(fixture.keyIds)}`;
    case 9:
      return `alias/${rng.ascii(rng.int(0, 20))}`;
    case 10:
      return rng.pick(['arn:', 'arn:aws', 'arn:aws:s3:::bucket', 'arn:aws:kms', 'arn:aws:kms:::', `arn:aws:kms:${region}:${account}:`, `arn:aws:kms:${region}:${account}:grant/x`, 'alias/aws/s3', 'alias/']);
    case 11:
      return `${rng.pick(fixture.keyIds)}${rng.pick(['', ' ', '\u0000', 'x', '/'])}`;
    case 12:
      return `${rng.pick(fixture.keyArns)}:${rng.ascii(3)}`;
    default:
      return randomString(rng);
  }
}

function aliasName(rng: Rng): string {
  return rng.pick([
    rng.pick(fixture.aliases),
    `alias/fuzz-new-${rng.hex(6)}`,
    `alias/aws/${rng.hex(4)}`,
    'alias/',
    `notalias/${rng.hex(4)}`,
    `alias/${rng.ascii(rng.int(1, 30))}`,
    `alias/${'a'.repeat(rng.int(250, 300))}`,
    randomString(rng),
  ]);
}

function base64Blob(rng: Rng): string {
  switch (rng.int(0, 11)) {
    case 0:
      return rng.bytes(rng.int(0, 64)).toString('base64');
    case 1:
      return rng.bytes(rng.pick([4095, 4096, 4097, 6144, 6145, 9000])).toString('base64');
    case 2:
      return rng.pick(fixture.ciphertexts).toString('base64');
    case 3: {
      // A real blob with bytes flipped, cut short or extended.
      const blob = Buffer.from(rng.pick(fixture.ciphertexts));
      const mode = rng.int(0, 2);
      if (mode === 0) {
        const at = rng.int(0, blob.length - 1);
        blob[at] = blob[at]! ^ (1 << rng.int(0, 7));
      }
      if (mode === 1) return blob.subarray(0, rng.int(0, blob.length - 1)).toString('base64');
      if (mode === 2) return Buffer.concat([blob, rng.bytes(rng.int(1, 40))]).toString('base64');
      return blob.toString('base64');
    }
    case 4: {
      // The header of a real blob (names a real key) with random contents after it.
      const blob = rng.pick(fixture.ciphertexts);
      return Buffer.concat([blob.subarray(0, 50), rng.bytes(rng.int(0, 100))]).toString('base64');
    }
    case 5:
      return Buffer.concat([Buffer.from([1, 1]), rng.bytes(rng.int(16, 120))]).toString('base64');
    case 6:
      return rng.bytes(rng.int(1, 64)).toString('base64url');
    case 7:
      return `${rng.bytes(rng.int(1, 40)).toString('base64')}${rng.pick(['=', '==', '===', '!', ' ', '\n', '.'])}`;
    case 8:
      return rng.pick(['', '=', '====', 'A', 'AA', 'AAA', 'A===', '%%%%', 'Zm9v\nYmFy']);
    case 9:
      return rng.pick(UNICODE).repeat(4);
    default:
      return randomString(rng);
  }
}

function encryptionContext(rng: Rng): unknown {
  switch (rng.int(0, 6)) {
    case 0:
      return {};
    case 1:
      return { purpose: 'fuzz' };
    case 2:
      return Object.fromEntries(Array.from({ length: rng.int(1, 5) }, () => [unicodeString(rng, 2), unicodeString(rng, 2)]));
    case 3:
      return Object.fromEntries(Array.from({ length: rng.int(500, 2000) }, (_, i) => [`k${i}`, rng.hex(8)]));
    case 4:
      return { [rng.ascii(5)]: wildValue(rng) };
    case 5:
      return { '': '', big: 'v'.repeat(rng.int(1000, 100_000)) };
    default:
      return wildValue(rng);
  }
}

function tags(rng: Rng): unknown {
  switch (rng.int(0, 5)) {
    case 0:
      return [];
    case 1:
      return [{ TagKey: rng.pick(['env', `aws:${rng.hex(3)}`, 'AWS:x', '', 'k'.repeat(129)]), TagValue: rng.pick(['v', '', 'v'.repeat(257)]) }];
    case 2:
      return Array.from({ length: rng.int(45, 60) }, (_, i) => ({ TagKey: `t${i}`, TagValue: 'v' }));
    case 3:
      return [{ TagKey: unicodeString(rng, 2) }, { TagValue: 'x' }, { TagKey: 5, TagValue: 6 }];
    case 4:
      return [wildValue(rng), wildValue(rng)];
    default:
      return wildValue(rng);
  }
}

function marker(rng: Rng): string {
  return rng.pick([
    Buffer.from(`kb1:${rng.pick([...fixture.keyIds, ...fixture.aliases, rng.ascii(10), ''])}`).toString('base64url'),
    Buffer.from(`kb2:${rng.ascii(8)}`).toString('base64url'),
    rng.bytes(rng.int(1, 40)).toString('base64url'),
    rng.bytes(rng.int(1, 40)).toString('base64'),
    randomString(rng),
  ]);
}

/** A value that is usually valid for the member (so requests get past parsing), else an edge case. */
function plausibleValue(rng: Rng, member: Member, region: string, account: string): unknown {
  const { name, kind } = member;
  const valid = rng.chance(0.75);
  if (/KeyId$/.test(name)) {
    if (!valid) return keyRef(rng, region, account);
    return rng.pick([...fixture.keyIds, ...fixture.keyArns, ...fixture.aliases, rng.uuid()]);
  }
  if (name === 'AliasName') return aliasName(rng);
  if (/EncryptionContext$/.test(name)) {
    if (!valid) return encryptionContext(rng);
    return rng.pick([{}, { purpose: 'fuzz' }, { purpose: 'other' }, { [unicodeString(rng, 1)]: unicodeString(rng, 2) }]);
  }
  if (name === 'Tags') return tags(rng);
  if (name === 'TagKeys') return rng.chance(0.5) ? ['env', 'team'] : Array.from({ length: rng.int(0, 60) }, () => randomString(rng));
  if (name === 'GrantTokens') {
    if (valid) return [rng.ascii(rng.int(1, 30))];
    return Array.from({ length: rng.pick([0, 1, 10, 11, 50]) }, () => rng.pick(['t', '', randomString(rng), 'g'.repeat(8193)]));
  }
  if (name === 'Marker') return marker(rng);
  if (name === 'Policy') {
    return rng.pick([
      '{}',
      '{"Statement":[]}',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }] }),
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Principal: '*', Action: 'kms:*' }] }),
      'not json',
      `{"Statement": ${'['.repeat(500)}${']'.repeat(500)}}`,
      'p'.repeat(131_073),
      unicodeString(rng, 5),
    ]);
  }
  if (name === 'PolicyName') return rng.pick(['default', 'default', 'Default', '', 'x'.repeat(129), 'other', unicodeString(rng, 2)]);
  if (name === 'Recipient') return rng.pick([{}, { AttestationDocument: rng.bytes(20).toString('base64') }, { KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }]);
  if (name === 'NumberOfBytes' && valid) return rng.pick([1, 16, 32, 64, 1024, rng.int(1, 1024)]);
  if (name === 'Limit' && valid) return rng.int(1, 50);
  if (name === 'PendingWindowInDays' && valid) return rng.int(7, 30);
  if (name === 'CiphertextBlob' && valid) {
    const blob = rng.pick(fixture.ciphertexts);
    if (rng.chance(0.4)) return blob.toString('base64');
    const copy = Buffer.from(blob);
    const at = rng.int(0, copy.length - 1);
    copy[at] = copy[at]! ^ (1 << rng.int(0, 7));
    return copy.toString('base64');
  }
  if (name === 'Plaintext' && valid) return rng.bytes(rng.int(1, 300)).toString('base64');
  switch (kind) {
    case 'blob':
      return base64Blob(rng);
    case 'number':
      return randomNumber(rng);
    case 'boolean':
      return rng.chance(0.5);
    case 'enum':
      return valid && member.enumValues.length > 0 ? rng.pick(member.enumValues) : rng.pick([randomString(rng), (member.enumValues[0] ?? 'X').toLowerCase()]);
    case 'array':
      return member.elementKind === 'enum' ? rng.pick([['IGNORE_CIPHERTEXT'], ['ignore_ciphertext'], [], [randomString(rng)]]) : Array.from({ length: rng.int(0, 3) }, () => wildValue(rng));
    case 'record':
    case 'object':
      return valid ? {} : wildValue(rng);
    default:
      return valid ? rng.ascii(rng.int(0, 40)) : randomString(rng);
  }
}

/** How often an optional member is present: rare for the exotic ones. */
function presence(member: Member): number {
  if (member.required) return 0.92;
  if (['Recipient', 'DryRun', 'DryRunModifiers', 'CustomKeyStoreId', 'GrantTokens'].includes(member.name)) return 0.1;
  if (/EncryptionAlgorithm$/.test(member.name)) return 0.2;
  return 0.5;
}

// ---- Requests -----------------------------------------------------------------------------------------

interface Generated {
  readonly label: string;
  readonly req: RawRequest;
  /** The operation X-Amz-Target names after the server trims it, if it is a registered one. */
  readonly operation: string | undefined;
  readonly poison: string;
}

const VALID_TYPES = [AMZ_JSON, 'application/x-amz-json-1.1; charset=utf-8', 'APPLICATION/X-AMZ-JSON-1.1', 'application/x-amz-json-1.0', 'application/json'];
const BAD_TYPES = ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/x-www-form-urlencoded', '*/*', 'application/x-amz-json-1.2', 'json', ''];
const AUTH_FAULTS = ['unsigned', 'wrongSecret', 'unknownKey', 'expired', 'future', 'wrongRegion', 'garbageAuth', 'tampered', 'securityToken'] as const;

function applyAuthFault(rng: Rng, fault: (typeof AUTH_FAULTS)[number], req: RawRequest): RawRequest {
  const secret = server.credentials.secretAccessKey;
  switch (fault) {
    case 'unsigned':
      return { ...req, sign: false };
    case 'wrongSecret':
      return { ...req, credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}` } };
    case 'unknownKey':
      return { ...req, credentials: { accessKeyId: `AKIA${rng.hex(16).toUpperCase()}`, secretAccessKey: secret } };
    case 'expired':
      return { ...req, signingDate: new Date(Date.now() - rng.int(16, 600) * 60_000) };
    case 'future':
      return { ...req, signingDate: new Date(Date.now() + rng.int(16, 600) * 60_000) };
    case 'wrongRegion':
      return { ...req, region: rng.pick(['eu-west-1', 'us-east-2', 'ap-south-1']) };
    case 'garbageAuth': {
      const authorization = rng.pick([
        rng.ascii(rng.int(0, 200)).trim() || 'x',
        `AWS4-HMAC-SHA256 ${rng.ascii(rng.int(1, 100))}`,
        `AWS4-HMAC-SHA256 Credential=${server.credentials.accessKeyId}/${rng.hex(8)}/${server.region}/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=${rng.hex(64)}`,
        `AWS4-HMAC-SHA256 Credential=${server.credentials.accessKeyId}, SignedHeaders=, Signature=`,
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `AWS ${server.credentials.accessKeyId}:${rng.hex(20)}`,
      ]);
      return { ...req, sign: false, headers: { ...req.headers, authorization, 'x-amz-date': rng.pick(['20240101T000000Z', 'yesterday', '', '99999999T999999Z']) } };
    }
    case 'tampered':
      return { ...req, headers: { ...req.headers, 'x-amz-content-sha256': createHash('sha256').update(rng.hex(10)).digest('hex') } };
    case 'securityToken':
      return { ...req, headers: { ...req.headers, 'x-amz-security-token': rng.hex(40) } };
  }
}

/** The operation the server will route to: it trims header whitespace, as HTTP does. */
function routedOperation(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const t = target.trim();
  return t.startsWith('TrentService.') && OPERATIONS_BY_NAME.has(t.slice('TrentService.'.length)) ? t.slice('TrentService.'.length) : undefined;
}

function randomTarget(rng: Rng): string {
  for (;;) {
    const name = rng.pick(OPERATIONS).name;
    const target = rng.pick([
      `TrentService.${rng.ascii(rng.int(0, 30))}`,
      `TrentService.${name.toLowerCase()}`,
      `TrentService.${name.toUpperCase()}`,
      `TrentService.${name}x`,
      `TrentService..${name}`,
      `trentservice.${name}`,
      `TrentService_${name}`,
      `Trent.${name}`,
      name,
      `TrentService.${name}/`,
      `TrentService.${name}.${name}`,
      `TrentService.ConnectCustomKeyStore`,
      `TrentService.CreateGrant`,
      `TrentService.Sign`,
      `TrentService.__proto__`,
      `TrentService.constructor`,
      `TrentService.toString`,
      `TrentService.hasOwnProperty`,
      rng.ascii(rng.int(0, 80)),
      `TrentService.${'A'.repeat(rng.int(100, 5000))}`,
    ]);
    // Anything the server would route to a real operation is not a "random target".
    if (routedOperation(target) === undefined && target.trim() !== '') return target;
  }
}

function rawBody(rng: Rng): Buffer {
  switch (rng.int(0, 11)) {
    case 0:
      return rng.bytes(rng.int(1, 4000));
    case 1:
      return Buffer.from(rng.pick(['{', '}', '{"', '{"KeyId"', '{"KeyId":', '{"KeyId":"x"', '{"KeyId":"x",}', "{'KeyId':'x'}", '{KeyId:"x"}', '{"a":1}{"b":2}', '{"a":1} trailing', ' ', '\n\n', 'undefined', 'NaN', '{"a":NaN}', '{"a":Infinity}', '{"a":01}', '{"a":"\\x41"}', '{"a":"\\ud800"}']));
    case 2:
      return Buffer.from(rng.pick(['[]', '[{}]', '"string"', '42', '-1', '1e999', 'true', 'false', 'null', '""', '[null]']));
    case 3: {
      const n = rng.int(1000, 120_000);
      return Buffer.from(rng.chance(0.5) ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`);
    }
    case 4: {
      const n = rng.int(100, 3000);
      return Buffer.from(`${'{"a":'.repeat(n)}{"constructor":{"prototype":{"polluted":true}}}${'}'.repeat(n)}`);
    }
    case 5:
      return Buffer.from(rng.pick(['{"__proto__":{"polluted":true}}', '{"KeyId":"x","__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"EncryptionContext":{"__proto__":"x"}}']));
    case 6: {
      const name = rng.pick(['Limit', 'NumberOfBytes', 'PendingWindowInDays', 'KeyId', 'Plaintext']);
      const value = rng.pick(['1e999', '-1e999', '1E+400', '123456789012345678901234567890', '-0', '1.0', '0.0000001e-400', '0x10', '+1', '.5', '5.', '1_000']);
      return Buffer.from(`{"${name}":${value}}`);
    }
    case 7:
      return Buffer.concat([Buffer.from('{"KeyId":"'), rng.bytes(rng.int(1, 200)), Buffer.from('"}')]);
    case 8:
      return Buffer.from(`\ufeff{"Limit":5}`);
    case 9:
      return Buffer.from(JSON.stringify({ KeyId: 'x', KeyId2: 'y' }).replace('KeyId2', 'KeyId'));
    case 10:
      return Buffer.from(`{"Description":"${'x'.repeat(rng.int(1_048_600, 1_100_000))}"}`);
    default:
      return Buffer.from(JSON.stringify(wildValue(rng)));
  }
}

/** Forces a certain failure onto a request for an operation that changes state. */
function poison(rng: Rng, operation: string, members: Member[], body: Record<string, unknown>, req: RawRequest): { req: RawRequest; body: Record<string, unknown> | Buffer; name: string } {
  const required = members.filter((m) => m.required);
  const keyMembers = members.filter((m) => m.name === 'KeyId' || m.name === 'TargetKeyId');
  const options: string[] = ['auth', 'auth', 'contentType', 'nonObject', 'wrongKind', 'wrongKind'];
  if (required.length > 0) options.push('missing', 'missing');
  if (keyMembers.length > 0 || operation === 'DeleteAlias' || operation === 'UpdateAlias' || operation === 'CreateKey') options.push('nonexistent', 'nonexistent', 'nonexistent');
  if (keyMembers.length > 0 || members.some((m) => m.name === 'AliasName' || m.name === 'Description')) options.push('tooLong');
  const choice = rng.pick(options);
  switch (choice) {
    case 'auth': {
      const fault = rng.pick(AUTH_FAULTS);
      return { req: applyAuthFault(rng, fault, req), body, name: `auth:${fault}` };
    }
    case 'contentType':
      return { req: { ...req, contentType: rng.pick(BAD_TYPES.filter((t) => t !== '')) }, body, name: 'contentType' };
    case 'nonObject':
      return { req, body: Buffer.from(rng.pick(['[]', '"x"', '1', 'null', '{', JSON.stringify([body])])), name: 'nonObject' };
    case 'wrongKind': {
      if (members.length === 0) return { req, body: Buffer.from('[]'), name: 'nonObject' };
      const member = rng.pick(members);
      return { req, body: { ...body, [member.name]: wrongKind(rng, member.kind) }, name: `wrongKind:${member.name}` };
    }
    case 'missing': {
      const member = rng.pick(required);
      const { [member.name]: _dropped, ...rest } = body;
      return { req, body: rest, name: `missing:${member.name}` };
    }
    case 'nonexistent': {
      const out = { ...body };
      if (operation === 'DeleteAlias' || operation === 'UpdateAlias') out.AliasName = `alias/fuzz-missing-${rng.hex(12)}`;
      if (operation === 'CreateKey') {
        const fault = rng.int(0, 4);
        if (fault === 0) out.CustomKeyStoreId = `cks-${rng.hex(17)}`;
        if (fault === 1) out.KeySpec = rng.pick(['RSA_2048', 'ECC_NIST_P256', 'HMAC_256']);
        if (fault === 2) out.MultiRegion = true;
        if (fault === 3) out.Origin = rng.pick(['EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']);
        if (fault === 4) out.Tags = [{ TagKey: `aws:${rng.hex(4)}`, TagValue: 'x' }];
      }
      for (const m of keyMembers) out[m.name] = rng.pick([rng.uuid(), `arn:aws:kms:${server.region}:${server.accountId}:key/${rng.uuid()}`, `arn:aws:kms:eu-west-1:${server.accountId}:key/${fixture.keyIds[0]}`, `alias/fuzz-a`]);
      return { req, body: out, name: 'nonexistent' };
    }
    default: {
      const out = { ...body };
      const member = rng.pick(members.filter((m) => ['KeyId', 'TargetKeyId', 'AliasName', 'Description'].includes(m.name)));
      const max = member.name === 'AliasName' ? 256 : member.name === 'Description' ? 8192 : 2048;
      out[member.name] = 'k'.repeat(max + rng.int(1, 50));
      return { req, body: out, name: `tooLong:${member.name}` };
    }
  }
}

function generate(rng: Rng, i: number): Generated {
  const category = rng.next();
  if (category < 0.05) {
    // Anything but POST /: methods and paths nobody should use.
    const method = rng.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST']);
    let path = rng.pick(['/', '/x', '/kms', '/TrentService.ListKeys', `/${[...Buffer.from(unicodeString(rng, 2), 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`, '/%2e%2e/%2e%2e/etc/passwd', '//', '/?Action=ListKeys', `/${rng.hex(300)}`, '/healthz/x', '/readyz/', '/metrics/x']);
    if (method === 'POST' && path === '/') path = '/nope';
    // A read-only target: a path the server does route to POST / (with a query) must change nothing.
    const req: RawRequest = { method, path, target: 'TrentService.ListKeys', body: method === 'GET' || method === 'OPTIONS' ? '' : '{}', ...(rng.chance(0.5) ? { sign: false } : {}) };
    return { label: `#${i} ${method} ${path}`, req, operation: undefined, poison: 'route' };
  }
  if (category < 0.12) {
    const target = randomTarget(rng);
    const req: RawRequest = { target, body: rng.chance(0.5) ? '{}' : rawBody(rng) };
    return { label: `#${i} target=${JSON.stringify(target.slice(0, 60))}`, req, operation: undefined, poison: 'target' };
  }
  const op = rng.pick(OPERATIONS);
  const members = membersOf(op.input);
  let req: RawRequest = { target: `TrentService.${op.name}` };
  // Content type and signing faults happen to any request.
  if (rng.chance(0.1)) req = { ...req, contentType: rng.chance(0.15) ? null : rng.pick([...VALID_TYPES, ...BAD_TYPES]) };
  if (rng.chance(0.1)) req = applyAuthFault(rng, rng.pick(AUTH_FAULTS), req);

  let body: Record<string, unknown> | Buffer;
  if (category < 0.22) {
    body = rawBody(rng);
  } else {
    // Mostly plausible members (to get past parsing into the operations), some with one wild
    // member, some all chaos.
    const obj: Record<string, unknown> = {};
    const mode = rng.next();
    const wildShare = mode < 0.5 ? 0 : mode < 0.8 ? -1 : 0.45;
    for (const member of members) {
      if (!rng.chance(presence(member))) continue; // absent
      obj[member.name] = rng.chance(wildShare) ? (rng.chance(0.5) ? wrongKind(rng, member.kind) : wildValue(rng)) : plausibleValue(rng, member, server.region, server.accountId);
    }
    if (wildShare === -1 && members.length > 0) {
      const member = rng.pick(members);
      obj[member.name] = rng.chance(0.5) ? wrongKind(rng, member.kind) : wildValue(rng);
    }
    if (rng.chance(0.15)) obj[rng.pick(['FutureMember', 'keyId', 'KEYID', 'Plaintext ', unicodeString(rng, 2)])] = wildValue(rng);
    body = obj;
  }

  let poisonName = 'none';
  if (!READ_ONLY.has(op.name)) {
    const obj = Buffer.isBuffer(body) ? {} : body;
    const poisoned = poison(rng, op.name, members, obj, req);
    // A raw body is already poison only if it is not a JSON object; parse to find out.
    if (Buffer.isBuffer(body) && !isJsonObjectText(body)) {
      poisonName = 'rawBody';
    } else {
      req = poisoned.req;
      body = poisoned.body;
      poisonName = poisoned.name;
    }
  }
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return { label: `#${i} ${op.name} poison=${poisonName}`, req: { ...req, body: bytes }, operation: op.name, poison: poisonName };
}

/** As the server sees it: UTF-8, a leading BOM dropped (secure-json-parse does that). */
function isJsonObjectText(body: Buffer): boolean {
  try {
    const v = JSON.parse(body.toString('utf8').replace(/^\uFEFF/, ''));
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

// ---- Checking answers --------------------------------------------------------------------------------

/** Returns a problem description, or undefined when the answer is acceptable. */
function judge(g: Generated, res: RawResponse): string | undefined {
  if (res.status >= 500) return `status ${res.status}`;
  if (typeof res.headers['x-amzn-requestid'] !== 'string') return 'no x-amzn-requestid';
  if (res.headers['content-type'] !== AMZ_JSON) return `content-type ${String(res.headers['content-type'])}`;
  if (res.status === 200) {
    const path = (g.req.path ?? '/').split('?', 1)[0];
    const routed = (g.req.method ?? 'POST') === 'POST' && path === '/' ? routedOperation(g.req.target) : undefined;
    if (routed === undefined) return 'a 200 for a request that names no operation';
    if (!READ_ONLY.has(routed)) return `a 200 from state-changing ${routed} (poison ${g.poison})`;
    if (!res.json || typeof res.json !== 'object' || Array.isArray(res.json)) return 'a 200 without a JSON object body';
    if ('__type' in res.json) return 'a 200 with __type';
    return undefined;
  }
  if (!res.json || typeof res.json !== 'object') return 'error body is not JSON';
  const type = res.json.__type as string;
  if (!Object.hasOwn(KMS_ERRORS, type)) return `__type ${String(type)} is not in the error table`;
  if (typeof res.json.message !== 'string') return 'error without a message';
  if (Object.keys(res.json).sort().join() !== '__type,message') return `extra error members ${Object.keys(res.json).join()}`;
  const expected = KMS_ERRORS[type as keyof typeof KMS_ERRORS];
  const httpLevel = (res.status === 404 && type === 'UnknownOperationException') || (res.status === 431 && type === 'RequestEntityTooLargeException');
  if (res.status !== expected && !httpLevel) return `status ${res.status} for ${type} (table: ${expected})`;
  if (res.headers['x-amzn-errortype'] !== type) return `x-amzn-errortype ${String(res.headers['x-amzn-errortype'])}`;
  return undefined;
}

test('thousands of malformed and random requests: AWS-shaped 4xx only, nothing changes, the server stays up', async (t) => {
  console.log(`bad-input seed: ${SEED} (KEYBRIDGE_FUZZ_SEED=${SEED} reproduces this run), ${COUNT} requests`);
  const before = await snapshot();
  const logBytesBefore = readFileSync(server.logFile).length;

  const rng = new Rng(SEED);
  const generated: Generated[] = Array.from({ length: COUNT }, (_, i) => generate(rng, i));
  const problems: string[] = [];
  const tally = new Map<string, number>();
  const byOperation = new Map<string, number>();
  let sent = 0;
  let next = 0;
  const started = Date.now();

  async function worker(): Promise<void> {
    while (next < generated.length && Date.now() - started < TIME_BUDGET_MS) {
      const g = generated[next++]!;
      let res: RawResponse;
      try {
        res = await rawRequest(server, g.req);
      } catch (err) {
        problems.push(`${g.label}: transport error ${(err as Error).message}`);
        continue;
      }
      sent++;
      if (g.operation) byOperation.set(g.operation, (byOperation.get(g.operation) ?? 0) + 1);
      const answer = res.status === 200 ? `200 ${routedOperation(g.req.target)}` : `${res.status} ${String(res.json?.__type)}`;
      const key = process.env.KEYBRIDGE_FUZZ_BY_OPERATION ? `${g.operation ?? '-'} ${answer}` : answer;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      const problem = judge(g, res);
      if (problem) problems.push(`${g.label}: ${problem}; response ${res.status} ${res.body.slice(0, 300)}`);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
  const elapsed = Date.now() - started;
  t.diagnostic(`sent ${sent} requests in ${elapsed} ms`);
  t.diagnostic(`answers: ${[...tally].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`).join(', ')}`);

  assert.deepEqual(problems.slice(0, 20), [], `seed ${SEED}: ${problems.length} bad answers, first ones shown`);
  assert.ok(sent >= Math.min(COUNT, 1000), `only ${sent} requests were sent in ${TIME_BUDGET_MS} ms`);
  for (const op of OPERATIONS) assert.ok((byOperation.get(op.name) ?? 0) >= 10, `${op.name} got only ${byOperation.get(op.name) ?? 0} requests`);

  // Still up and still serving.
  const health = await rawRequest(server, { method: 'GET', path: '/healthz', sign: false });
  assert.equal(health.status, 200);
  const encrypted = await must('Encrypt', { KeyId: 'alias/fuzz-a', Plaintext: Buffer.from('still here').toString('base64') });
  const decrypted = await must('Decrypt', { CiphertextBlob: encrypted.CiphertextBlob });
  assert.equal(Buffer.from(decrypted.Plaintext, 'base64').toString(), 'still here');

  // Nothing changed: keys, metadata, tags, policies, aliases, and the HSM's objects.
  assert.deepEqual(await snapshot(), before);

  // Nothing was logged as a server fault either.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const log = readFileSync(server.logFile).subarray(logBytesBefore).toString('utf8');
  const faults = log.split('\n').filter((line) => /"level":(50|60)/.test(line));
  assert.deepEqual(faults.slice(0, 5), [], `${faults.length} error-level log lines during the fuzz`);
});

// ---- Every member, every position: deep, oversize, wrong type --------------------------------------
//
// Not random: for every operation in the registry, a body that is valid apart from ONE member, which
// is nested too deeply (just past the limit and thousands of levels, arrays and objects, at the top
// and inside the member), oversized, or of the wrong type — plus deep values in members the schema
// does not know. Such a body once got as far as the operation and committed it (CreateKey,
// CreateGrant, TagResource) before its audit record overflowed the stack: now it must be refused
// before anything runs, with an AWS-shaped 4xx, and be recorded.

/** Request bodies that would succeed, for the operations whose success changes state. */
function validBody(operation: string): Record<string, unknown> {
  const [a] = fixture.keyIds;
  const grantee = `arn:aws:iam::${server.accountId}:user/fuzz-grantee`;
  const known: Record<string, Record<string, unknown>> = {
    CreateKey: { Description: 'deep', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Tags: [{ TagKey: 'k', TagValue: 'v' }] },
    EnableKey: { KeyId: fixture.keyIds[1] },
    DisableKey: { KeyId: a },
    ScheduleKeyDeletion: { KeyId: a, PendingWindowInDays: 7 },
    CancelKeyDeletion: { KeyId: fixture.keyIds[2] },
    UpdateKeyDescription: { KeyId: a, Description: 'changed' },
    Encrypt: { KeyId: a, Plaintext: Buffer.from('x').toString('base64'), EncryptionContext: { k: 'v' }, GrantTokens: [] },
    Decrypt: { CiphertextBlob: fixture.ciphertexts[0]!.toString('base64'), KeyId: a, EncryptionContext: {} },
    ReEncrypt: { CiphertextBlob: fixture.ciphertexts[0]!.toString('base64'), DestinationKeyId: a, SourceEncryptionContext: {}, DestinationEncryptionContext: { k: 'v' } },
    GenerateDataKey: { KeyId: a, KeySpec: 'AES_256', EncryptionContext: { k: 'v' } },
    GenerateDataKeyWithoutPlaintext: { KeyId: a, KeySpec: 'AES_256', EncryptionContext: { k: 'v' } },
    GenerateRandom: { NumberOfBytes: 16 },
    CreateAlias: { AliasName: 'alias/fuzz-new', TargetKeyId: a },
    UpdateAlias: { AliasName: 'alias/fuzz/b', TargetKeyId: a },
    DeleteAlias: { AliasName: 'alias/fuzz/b' },
    TagResource: { KeyId: a, Tags: [{ TagKey: 'added', TagValue: 'v' }] },
    UntagResource: { KeyId: a, TagKeys: ['env'] },
    PutKeyPolicy: {
      KeyId: a,
      PolicyName: 'default',
      Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${server.accountId}:root` }, Action: 'kms:*', Resource: '*' }] }),
    },
    CreateGrant: { KeyId: a, GranteePrincipal: grantee, RetiringPrincipal: grantee, Operations: ['Decrypt', 'Encrypt'], Constraints: { EncryptionContextSubset: { k: 'v' } }, Name: 'deep' },
  };
  if (Object.hasOwn(known, operation)) return { ...known[operation] };
  // Any other operation: a plausible value of each member's kind (these change nothing anyway).
  const out: Record<string, unknown> = {};
  for (const m of membersOf(OPERATIONS_BY_NAME.get(operation)!.input)) {
    if (/KeyId$/.test(m.name)) out[m.name] = a;
    else if (m.kind === 'enum') out[m.name] = m.enumValues[0];
    else if (m.kind === 'number') out[m.name] = 1;
    else if (m.kind === 'boolean') out[m.name] = false;
    else if (m.kind === 'blob') out[m.name] = Buffer.from('blob').toString('base64');
    else if (m.kind === 'array') out[m.name] = [];
    else if (m.kind === 'record' || m.kind === 'object') out[m.name] = {};
    else out[m.name] = 'x';
  }
  return out;
}

function deepArray(levels: number, leaf: string): string {
  return `${'['.repeat(levels)}${leaf}${']'.repeat(levels)}`;
}

function deepObject(levels: number, leaf: string): string {
  return `${'{"a":'.repeat(levels)}${leaf}${'}'.repeat(levels)}`;
}

interface Fault {
  readonly label: string;
  /** The JSON text of the faulted body. */
  readonly body: string;
  /** Deep faults must be refused at the parser: SerializationException. */
  readonly deep: boolean;
}

function faultsFor(operation: string): Fault[] {
  const base = validBody(operation);
  const members = membersOf(OPERATIONS_BY_NAME.get(operation)!.input);
  const rng = new Rng(SEED ^ operation.length);
  const withMember = (name: string, valueText: string) => {
    const rest = { ...base };
    delete rest[name];
    const text = JSON.stringify(rest);
    return text === '{}' ? `{"${name}":${valueText}}` : `${text.slice(0, -1)},"${name}":${valueText}}`;
  };
  const out: Fault[] = [];
  // Depth counts the body's own object: MAX_JSON_DEPTH levels in a member is one past the limit.
  const depths = [MAX_JSON_DEPTH, 1000, 5000];
  for (const m of [...members.map((x) => x.name), 'FutureMember']) {
    for (const levels of depths) {
      out.push({ label: `${m}=array^${levels}`, body: withMember(m, deepArray(levels, '"x"')), deep: true });
      out.push({ label: `${m}=object^${levels}`, body: withMember(m, deepObject(levels, '1')), deep: true });
    }
    // Inside the member: the positions where nested values are legitimate.
    out.push({ label: `${m}[deep]`, body: withMember(m, `[${deepArray(2000, '1')}]`), deep: true });
    out.push({ label: `${m}{k:deep}`, body: withMember(m, `{"k":${deepObject(2000, '"v"')}}`), deep: true });
    out.push({ label: `${m}[{TagKey,TagValue:deep}]`, body: withMember(m, `[{"TagKey":"k","TagValue":${deepArray(2000, '"v"')}}]`), deep: true });
  }
  for (const m of members) {
    out.push({ label: `${m.name}=wrongKind`, body: withMember(m.name, JSON.stringify(wrongKind(rng, m.kind))), deep: false });
    // Past every limit the model sets: elements and values longer than any member allows, more
    // entries than any list or map may have. (Unknown members of a structure are ignored, as by
    // AWS, so a structure's oversize value goes into its map members.)
    const bigMap = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, 'v'.repeat(400)]));
    const oversize =
      m.kind === 'array' ? Array.from({ length: 1_000 }, () => 'x'.repeat(300))
      : m.kind === 'number' ? 1e300
      : m.kind === 'record' ? bigMap
      : m.kind === 'object' ? { EncryptionContextSubset: bigMap, EncryptionContextEquals: bigMap }
      : m.kind === 'boolean' ? undefined
      : 'x'.repeat(70_000);
    if (oversize !== undefined) out.push({ label: `${m.name}=oversize`, body: withMember(m.name, JSON.stringify(oversize)), deep: false });
  }
  return out;
}

test('deep, oversize and wrong-type members at every position of every operation: 4xx, nothing changes, every call recorded', async () => {
  const before = await snapshot();
  const problems: string[] = [];
  const requestIds: string[] = [];
  let sent = 0;
  for (const op of OPERATIONS) {
    const mutating = !READ_ONLY.has(op.name);
    const faults = faultsFor(op.name);
    // A few at a time: enough to exercise concurrency, few enough for a 2-core machine.
    for (let i = 0; i < faults.length; i += 4) {
      await Promise.all(
        faults.slice(i, i + 4).map(async (f) => {
          const res = await rawRequest(server, { target: `TrentService.${op.name}`, body: f.body });
          sent++;
          const id = res.headers['x-amzn-requestid'];
          if (typeof id === 'string') requestIds.push(id);
          const label = `${op.name} ${f.label}`;
          const problem = judge({ label, req: { target: `TrentService.${op.name}`, body: f.body }, operation: op.name, poison: f.label }, res);
          if (problem) problems.push(`${label}: ${problem}; ${res.status} ${res.body.slice(0, 200)}`);
          else if (mutating && res.status === 200) problems.push(`${label}: a 200 from state-changing ${op.name}`);
          else if (f.deep && (res.status !== 400 || res.json?.__type !== 'SerializationException')) problems.push(`${label}: ${res.status} ${res.body.slice(0, 200)}, expected SerializationException`);
        }),
      );
    }
  }
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} bad answers of ${sent}, first ones shown`);
  assert.ok(sent > 1000, `only ${sent} requests`);
  assert.deepEqual(await snapshot(), before, 'a refused request changed state');

  // Every call is in the trail, by the request id the server answered with.
  const db = new Database(join(server.dataDir, 'audit.db'), { readonly: true });
  try {
    const recorded = new Set(
      db.prepare<[], string>("SELECT json_extract(record, '$.requestID') FROM audit_records").pluck().all(),
    );
    const missing = requestIds.filter((id) => !recorded.has(id));
    assert.equal(requestIds.length, sent, 'every response carried x-amzn-requestid');
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${requestIds.length} calls have no audit record`);
  } finally {
    db.close();
  }
});
