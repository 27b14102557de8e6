// Canonical JSON and requestParameters conversion walk caller-supplied structures without
// recursion, and produce exactly what the recursive versions produced (every stored hash depends
// on canonicalJson's bytes). The recursive versions are kept here as the reference.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { canonicalJson, chainRecords, GENESIS_HASH } from '../../src/audit/chain.js';
import { MAP_MEMBERS, RENAMED_REQUEST_MEMBERS, REQUEST_MEMBERS, SECRET_MEMBERS } from '../../src/audit/operation-rules.js';
import { awsDateText, camel, isPlainObject, requestParameters, responseElements } from '../../src/audit/parameters.js';
import { openForWriting } from '../../src/audit/schema.js';
import { verifyAuditFile } from '../../src/audit/verify.js';

const SANDBOX = mkdtempSync(join(tmpdir(), 'keybridge-canonical-'));
after(() => rmSync(SANDBOX, { recursive: true, force: true }));

/** The recursive canonicalJson that shipped first (its output is what existing trails hashed). */
function recursiveCanonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot canonicalise a ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : recursiveCanonicalJson(v))).join(',')}]`;
  const entries = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${recursiveCanonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** The recursive convert that shipped first, behind the same pick rules. */
function recursiveConvert(member: string, value: unknown, response: boolean): unknown {
  if (MAP_MEMBERS.has(member)) return isPlainObject(value) ? { ...value } : value;
  if (Array.isArray(value)) return value.map((v) => recursiveConvert(member, v, response));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_MEMBERS.has(k) || v === undefined) continue;
      out[camel(k)] = recursiveConvert(k, v, response);
    }
    return out;
  }
  if (response && typeof value === 'number' && member.endsWith('Date')) return awsDateText(value);
  return value;
}

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ['', 'a', 'A', 'é', '\u2028', '"quoted"', 'back\\slash', 'nl\n', '\ud800', '😀', 'z', 'aa', '__proto__', 'constructor', 'Tags', 'Operations', 'Plaintext', 'CreationDate', 'KeyId'];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY, 1700000000];

function randomValue(rnd: () => number, depth: number, jsonOnly: boolean): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const r = rnd();
  if (depth > 5 || r < 0.35) {
    return pick<unknown>([null, true, false, ...(jsonOnly ? [] : [undefined]), pick(NUMBERS), pick(STRINGS)]);
  }
  if (r < 0.65) {
    const arr: unknown[] = Array.from({ length: Math.floor(rnd() * 5) }, () => randomValue(rnd, depth + 1, jsonOnly));
    if (!jsonOnly && arr.length > 1 && rnd() < 0.2) delete arr[Math.floor(rnd() * arr.length)]; // a hole
    return arr;
  }
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 6); i > 0; i--) {
    const key = pick(STRINGS);
    if (key === '__proto__') Object.defineProperty(obj, key, { value: randomValue(rnd, depth + 1, jsonOnly), enumerable: true, writable: true, configurable: true });
    else obj[key] = randomValue(rnd, depth + 1, jsonOnly);
  }
  return obj;
}

describe('canonicalJson (iterative) equals the recursive original', () => {
  test('5,000 random shapes (holes, undefined, -0, NaN, escapes, lone surrogates, __proto__ keys)', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const value = randomValue(prng(seed), 0, false);
      let expected: string | Error;
      try {
        expected = recursiveCanonicalJson(value);
      } catch (err) {
        expected = err as Error;
      }
      if (expected instanceof Error) assert.throws(() => canonicalJson(value), TypeError, `seed ${seed}`);
      else assert.equal(canonicalJson(value), expected, `seed ${seed}`);
    }
  });

  test('edge cases byte for byte', () => {
    const cases: unknown[] = [
      null, 0, -0, 'x', true, [], {}, [undefined], [, 1], [1, ,], { a: undefined }, { b: 1, a: [{ d: 1, c: 2 }] },
      { '\u00e9': 1, e: 2, E: 3, '😀': 4, '\uffff': 5 }, new Date(0), [new Date(0)], Object.create(null), { n: Number.NaN },
    ];
    for (const value of cases) assert.equal(canonicalJson(value), recursiveCanonicalJson(value), JSON.stringify(value));
    // A shared (not circular) sub-object is written twice, as before.
    const shared = { z: 1 };
    assert.equal(canonicalJson({ a: shared, b: [shared] }), recursiveCanonicalJson({ a: shared, b: [shared] }));
  });

  test('what the original refused is still refused: undefined, functions, symbols, BigInt at any depth', () => {
    for (const value of [undefined, () => 1, Symbol('s'), { a: () => 1 }, [Symbol('s')], { a: [1, { b: 2n }] }]) {
      assert.throws(() => recursiveCanonicalJson(value), TypeError);
      assert.throws(() => canonicalJson(value), TypeError);
    }
  });

  test('a cycle throws TypeError instead of looping', () => {
    const a: Record<string, unknown> = {};
    a.self = { back: a };
    assert.throws(() => canonicalJson(a), { name: 'TypeError', message: /circular/ });
  });

  test('a 100,000-deep nested array and object: no stack overflow, the expected text', () => {
    const depth = 100_000;
    const arrayText = '['.repeat(depth) + ']'.repeat(depth);
    assert.throws(() => recursiveCanonicalJson(JSON.parse(arrayText)), RangeError, 'the original overflowed');
    assert.equal(canonicalJson(JSON.parse(arrayText)), arrayText);
    const objectText = '{"b":1,"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
    assert.equal(canonicalJson(JSON.parse(objectText)), '{"a":'.repeat(depth) + 'null' + ',"b":1}'.repeat(depth));
  });
});

describe('requestParameters conversion (iterative) equals the recursive original', () => {
  test('3,000 random request and response bodies for every operation with nested members', () => {
    const operations = Object.keys(REQUEST_MEMBERS);
    for (let seed = 1; seed <= 3000; seed++) {
      const rnd = prng(seed);
      const eventName = operations[seed % operations.length]!;
      const body: Record<string, unknown> = {};
      for (const member of REQUEST_MEMBERS[eventName]!) body[member] = randomValue(rnd, 1, true);
      const expected: Record<string, unknown> = {};
      for (const member of REQUEST_MEMBERS[eventName]!) {
        if (SECRET_MEMBERS.has(member) || body[member] === undefined || body[member] === null) continue;
        expected[RENAMED_REQUEST_MEMBERS[member] ?? camel(member)] = recursiveConvert(member, body[member], false);
      }
      const got = requestParameters(eventName, body);
      // JSON text compares order and content (what the trail stores).
      assert.equal(JSON.stringify(got ?? {}), JSON.stringify(expected), `seed ${seed} ${eventName}`);
    }
    const response = { KeyMetadata: { CreationDate: 1700000000, DeletionDate: 1700000001, Nested: [{ ValidTo: 3, SomeDate: 5 }] } };
    assert.deepEqual(responseElements('CreateKey', response), { keyMetadata: recursiveConvert('KeyMetadata', response.KeyMetadata, true) });
  });

  test('a 100,000-deep structure in a recorded member converts without overflowing, secrets dropped at depth', () => {
    const depth = 100_000;
    let deep: unknown = { Plaintext: 'secret', Leaf: 1 };
    for (let i = 0; i < depth; i++) deep = [deep];
    const params = requestParameters('CreateGrant', { KeyId: 'k', Operations: deep }) as { operations: unknown };
    let v = params.operations;
    for (let i = 0; i < depth; i++) v = (v as unknown[])[0];
    assert.deepEqual(v, { leaf: 1 });
  });
});

describe('verify on deeply nested records', () => {
  function trailWithDeepRecord(dir: string, deepText: string): string {
    const path = join(dir, 'audit.db');
    const texts = [
      JSON.stringify({ eventTime: '2025-01-01T00:00:01Z', n: 1 }),
      `{"eventTime":"2025-01-01T00:00:02Z","requestParameters":${deepText}}`,
      JSON.stringify({ eventTime: '2025-01-01T00:00:03Z', n: 3 }),
    ];
    const db = openForWriting(path);
    const insert = db.prepare('INSERT INTO audit_records (seq, prev_hash, hash, event_time, record) VALUES (?, ?, ?, ?, ?)');
    chainRecords({ seq: 0, hash: GENESIS_HASH }, texts).forEach((l, i) => insert.run(l.seq, l.prevHash, l.hash, Date.parse(`2025-01-01T00:00:0${i + 1}Z`), texts[i]));
    db.close();
    return path;
  }

  test('a 100,000-deep record verifies; editing it is reported at its own seq as altered, not "not valid JSON"', () => {
    const depth = 100_000;
    const path = trailWithDeepRecord(mkdtempSync(join(SANDBOX, 'deep-')), '['.repeat(depth) + '1' + ']'.repeat(depth));
    const ok = verifyAuditFile(path);
    assert.deepEqual([ok.ok, ok.records, ok.problem], [true, 3, undefined]);
    const db = new Database(path);
    db.prepare("UPDATE audit_records SET record = replace(record, '[1]', '[2]') WHERE seq = 2").run();
    db.close();
    const bad = verifyAuditFile(path);
    assert.deepEqual([bad.ok, bad.problem?.seq, bad.problem?.kind, bad.problem?.detail], [false, 2, 'altered', 'record seq 2 does not match its hash']);
  });

  test('a record that really is not JSON is still reported as such', () => {
    const path = trailWithDeepRecord(mkdtempSync(join(SANDBOX, 'bad-')), '[1]');
    const db = new Database(path);
    db.prepare("UPDATE audit_records SET record = '{not json' WHERE seq = 3").run();
    db.close();
    assert.deepEqual(verifyAuditFile(path).problem, { seq: 3, kind: 'altered', detail: 'record seq 3 is not valid JSON' });
  });
});
