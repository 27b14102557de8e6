// Pure grant rules: constraint semantics (table-driven), tokens, principal ARNs, who may retire.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  atLeastAsStrict,
  constraintsSatisfied,
  grantAllows,
  grantTokenMatches,
  isPrincipalArn,
  issueGrantToken,
  mayRetireGrant,
  newGrantId,
  newGrantTokenKey,
  normaliseConstraints,
  parseGrantToken,
  type GrantConstraints,
  type GrantRecord,
} from '../../src/domain/grant.js';

const ALICE = 'arn:aws:iam::111122223333:user/alice';
const BOB = 'arn:aws:iam::111122223333:user/bob';

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    grantId: newGrantId(),
    keyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    name: null,
    granteePrincipal: ALICE,
    retiringPrincipal: null,
    operations: ['Encrypt', 'Decrypt', 'DescribeKey'],
    constraints: null,
    issuingAccount: 'arn:aws:iam::111122223333:root',
    createdAt: 0,
    tokenKey: newGrantTokenKey(),
    ...overrides,
  };
}

describe('constraintsSatisfied', () => {
  const cases: Array<[string, GrantConstraints | null, Record<string, string> | undefined, boolean]> = [
    ['no constraint, no context', null, undefined, true],
    ['no constraint, any context', null, { a: '1' }, true],
    ['equals: identical', { encryptionContextEquals: { Dept: 'IT', Project: 'x' } }, { Project: 'x', Dept: 'IT' }, true],
    ['equals: extra pair', { encryptionContextEquals: { Dept: 'IT' } }, { Dept: 'IT', Other: 'y' }, false],
    ['equals: missing pair', { encryptionContextEquals: { Dept: 'IT', Project: 'x' } }, { Dept: 'IT' }, false],
    ['equals: no context', { encryptionContextEquals: { Dept: 'IT' } }, undefined, false],
    ['equals: key case differs (keys case-insensitive)', { encryptionContextEquals: { Dept: 'IT' } }, { dept: 'IT' }, true],
    ['equals: value case differs (values case-sensitive)', { encryptionContextEquals: { Dept: 'IT' } }, { Dept: 'it' }, false],
    ['subset: exact', { encryptionContextSubset: { Dept: 'IT' } }, { Dept: 'IT' }, true],
    ['subset: more pairs', { encryptionContextSubset: { Dept: 'IT' } }, { Dept: 'IT', Purpose: 'Test' }, true],
    ['subset: missing pair', { encryptionContextSubset: { Dept: 'IT', Purpose: 'Test' } }, { Dept: 'IT' }, false],
    ['subset: wrong value', { encryptionContextSubset: { Dept: 'IT' } }, { Dept: 'HR' }, false],
    ['subset: no context', { encryptionContextSubset: { Dept: 'IT' } }, undefined, false],
    ['subset: key case differs', { encryptionContextSubset: { Dept: 'IT' } }, { DEPT: 'IT', x: 'y' }, true],
    ['subset: value case differs', { encryptionContextSubset: { Dept: 'IT' } }, { Dept: 'It' }, false],
    ['both: both hold', { encryptionContextEquals: { a: '1', b: '2' }, encryptionContextSubset: { a: '1' } }, { a: '1', b: '2' }, true],
    ['both: equals fails', { encryptionContextEquals: { a: '1' }, encryptionContextSubset: { a: '1' } }, { a: '1', b: '2' }, false],
  ];
  for (const [name, constraints, context, expected] of cases) {
    test(name, () => assert.equal(constraintsSatisfied(constraints, context), expected));
  }
});

describe('atLeastAsStrict (grants created through a CreateGrant grant)', () => {
  const cases: Array<[string, GrantConstraints | null, GrantConstraints | null, boolean]> = [
    ['parent unconstrained', { encryptionContextSubset: { a: '1' } }, null, true],
    ['child unconstrained under a constrained parent', null, { encryptionContextSubset: { a: '1' } }, false],
    ['same subset', { encryptionContextSubset: { a: '1' } }, { encryptionContextSubset: { a: '1' } }, true],
    ['larger subset', { encryptionContextSubset: { a: '1', b: '2' } }, { encryptionContextSubset: { a: '1' } }, true],
    ['smaller subset', { encryptionContextSubset: { a: '1' } }, { encryptionContextSubset: { a: '1', b: '2' } }, false],
    ['equals containing the subset', { encryptionContextEquals: { a: '1', b: '2' } }, { encryptionContextSubset: { a: '1' } }, true],
    ['same equals', { encryptionContextEquals: { a: '1' } }, { encryptionContextEquals: { a: '1' } }, true],
    ['subset under equals', { encryptionContextSubset: { a: '1' } }, { encryptionContextEquals: { a: '1' } }, false],
    ['different equals', { encryptionContextEquals: { a: '2' } }, { encryptionContextEquals: { a: '1' } }, false],
  ];
  for (const [name, child, parent, expected] of cases) {
    test(name, () => assert.equal(atLeastAsStrict(child, parent), expected));
  }
});

describe('absent, null and empty constraints are one thing: no constraint', () => {
  // As they arrive from the wire (Constraints: {}, a member null or {}) or from a stored row.
  const none: unknown[] = [
    undefined,
    null,
    {},
    { encryptionContextEquals: null },
    { encryptionContextSubset: null },
    { encryptionContextEquals: {}, encryptionContextSubset: {} },
    { encryptionContextEquals: null, encryptionContextSubset: {} },
  ];
  const strict: unknown[] = [
    { encryptionContextSubset: { a: '1' } },
    { encryptionContextSubset: { a: '1' }, encryptionContextEquals: null },
    { encryptionContextSubset: { a: '1' }, encryptionContextEquals: {} },
  ];
  for (const [i, c] of none.entries()) {
    test(`none #${i} ${JSON.stringify(c)}: normalises to null, admits every context, any child is at least as strict`, () => {
      assert.equal(normaliseConstraints(c as never), null);
      assert.equal(constraintsSatisfied(c as never, undefined), true);
      assert.equal(constraintsSatisfied(c as never, { x: 'y' }), true);
      for (const child of [...none, ...strict]) assert.equal(atLeastAsStrict(child as never, c as never), true);
    });
  }
  for (const [i, c] of strict.entries()) {
    test(`subset #${i} ${JSON.stringify(c)}: a child without a constraint is wider; a child with the same or more is not`, () => {
      assert.deepEqual(normaliseConstraints(c as never), { encryptionContextSubset: { a: '1' } });
      assert.equal(constraintsSatisfied(c as never, { a: '1', b: '2' }), true);
      assert.equal(constraintsSatisfied(c as never, { b: '2' }), false);
      for (const child of none) assert.equal(atLeastAsStrict(child as never, c as never), false);
      for (const child of strict) assert.equal(atLeastAsStrict(child as never, c as never), true);
      assert.equal(atLeastAsStrict({ encryptionContextSubset: { a: '1', b: '2' }, encryptionContextEquals: null } as never, c as never), true);
      assert.equal(atLeastAsStrict({ encryptionContextEquals: { a: '1' }, encryptionContextSubset: null } as never, c as never), true);
    });
  }
  test('a CreateGrant grant with a subset constraint allows a stricter sub-grant whose other constraint member is null', () => {
    const g = grant({ operations: ['CreateGrant', 'Decrypt'], constraints: { encryptionContextSubset: { Dept: 'IT' } } });
    const newGrant = (constraints: unknown) => ({ operations: ['Decrypt'] as const, constraints: constraints as never });
    const ask = (constraints: unknown) => grantAllows([g], { principalArn: ALICE, operation: 'CreateGrant', newGrant: newGrant(constraints) });
    assert.equal(ask({ encryptionContextSubset: { Dept: 'IT', Team: 'a' }, encryptionContextEquals: null }), g);
    assert.equal(ask({ encryptionContextEquals: { Dept: 'IT' }, encryptionContextSubset: null }), g);
    assert.equal(ask(null), undefined);
    assert.equal(ask({ encryptionContextSubset: null, encryptionContextEquals: null }), undefined);
    assert.equal(ask({ encryptionContextSubset: { Dept: 'HR' } }), undefined);
  });
});

describe('grantAllows', () => {
  test('matches grantee and operation; constraints apply only to operations with a context', () => {
    const g = grant({ constraints: { encryptionContextSubset: { Dept: 'IT' } } });
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'Encrypt', encryptionContext: { Dept: 'IT' } }), g);
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'Encrypt', encryptionContext: { Dept: 'HR' } }), undefined);
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'Encrypt' }), undefined);
    // DescribeKey takes no encryption context: the constraint does not apply.
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'DescribeKey' }), g);
    assert.equal(grantAllows([g], { principalArn: BOB, operation: 'Encrypt', encryptionContext: { Dept: 'IT' } }), undefined);
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'GenerateDataKey', encryptionContext: { Dept: 'IT' } }), undefined);
  });

  test('GenerateDataKey is its own grant operation', () => {
    const g = grant({ operations: ['GenerateDataKey'] });
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'GenerateDataKey' }), g);
    assert.equal(grantAllows([g], { principalArn: ALICE, operation: 'GenerateDataKeyWithoutPlaintext' }), undefined);
  });

  test('the first allowing grant is returned; a grant named by a presented token is preferred', () => {
    const a = grant();
    const b = grant();
    assert.equal(grantAllows([a, b], { principalArn: ALICE, operation: 'Decrypt' }), a);
    assert.equal(grantAllows([a, b], { principalArn: ALICE, operation: 'Decrypt', grantTokens: [issueGrantToken(b)] }), b);
    // A token whose MAC does not verify is not preferred.
    const forged = issueGrantToken({ grantId: b.grantId, tokenKey: newGrantTokenKey() });
    assert.equal(grantAllows([a, b], { principalArn: ALICE, operation: 'Decrypt', grantTokens: [forged, 'junk'] }), a);
  });

  test('CreateGrant through a grant: operations must be a subset, constraints at least as strict', () => {
    const g = grant({ operations: ['CreateGrant', 'Encrypt'], constraints: { encryptionContextSubset: { a: '1' } } });
    const req = (operations: GrantRecord['operations'], constraints: GrantConstraints | null) =>
      grantAllows([g], { principalArn: ALICE, operation: 'CreateGrant', newGrant: { operations, constraints } });
    assert.equal(req(['Encrypt'], { encryptionContextSubset: { a: '1', b: '2' } }), g);
    assert.equal(req(['Encrypt', 'Decrypt'], { encryptionContextSubset: { a: '1' } }), undefined);
    assert.equal(req(['Encrypt'], null), undefined);
  });
});

describe('grant tokens', () => {
  test('a token names its grant, verifies only for it, and differs on every issue', () => {
    const g = grant();
    const t1 = issueGrantToken(g);
    const t2 = issueGrantToken(g);
    assert.notEqual(t1, t2);
    assert.equal(parseGrantToken(t1)?.grantId, g.grantId);
    assert.ok(grantTokenMatches(t1, g) && grantTokenMatches(t2, g));
    const other = grant();
    assert.equal(grantTokenMatches(t1, other), false);
    // Rewriting the grant id inside a token does not make it a token of the other grant.
    const bytes = Buffer.from(t1, 'base64url');
    Buffer.from(other.grantId, 'hex').copy(bytes, 1);
    assert.equal(grantTokenMatches(bytes.toString('base64url'), other), false);
    for (const bad of ['', 'abc', 'not+base64/', t1.slice(0, -2), `${t1}AA`]) assert.equal(parseGrantToken(bad), undefined, bad);
  });
});

describe('principal ARNs', () => {
  const valid = [
    'arn:aws:iam::111122223333:root',
    'arn:aws:iam::111122223333:user/alice',
    'arn:aws:iam::111122223333:user/division/alice',
    'arn:aws:iam::111122223333:role/KMSAdmin',
    'arn:aws:sts::111122223333:assumed-role/KMSAdmin/session-1',
    'arn:aws:sts::111122223333:federated-user/bob',
    'arn:aws-cn:iam::111122223333:root',
  ];
  const invalid = ['alice', '111122223333', 'arn:aws:iam::1111:root', 'arn:aws:kms:us-east-1:111122223333:key/x', 'arn:aws:iam::111122223333:group/g', 'arn:aws:iam::111122223333:user/'];
  for (const arn of valid) test(`valid: ${arn}`, () => assert.equal(isPrincipalArn(arn), true));
  for (const arn of invalid) test(`invalid: ${arn}`, () => assert.equal(isPrincipalArn(arn), false));
});

describe('mayRetireGrant', () => {
  const root = { arn: 'arn:aws:iam::111122223333:root', accountId: '111122223333', type: 'Root' };
  const user = (arn: string) => ({ arn, accountId: '111122223333', type: 'IAMUser' });
  test('retiring principal, grantee with RetireGrant, and the issuing account', () => {
    const g = grant({ retiringPrincipal: BOB });
    assert.equal(mayRetireGrant(g, user(BOB)), true);
    assert.equal(mayRetireGrant(g, user(ALICE)), false);
    assert.equal(mayRetireGrant(grant({ operations: ['Encrypt', 'RetireGrant'] }), user(ALICE)), true);
    assert.equal(mayRetireGrant(g, root), true);
    assert.equal(mayRetireGrant(g, { arn: 'arn:aws:iam::444455556666:root', accountId: '444455556666', type: 'Root' }), false);
    assert.equal(mayRetireGrant(g, user('arn:aws:iam::111122223333:user/carol')), false);
  });
});

test('normaliseConstraints drops empty maps', () => {
  assert.equal(normaliseConstraints(undefined), null);
  assert.equal(normaliseConstraints({ encryptionContextEquals: {}, encryptionContextSubset: {} }), null);
  assert.deepEqual(normaliseConstraints({ encryptionContextSubset: { a: 'b' }, encryptionContextEquals: {} }), { encryptionContextSubset: { a: 'b' } });
});
