// Wildcards (Action, Resource, StringLike), ARN part matching and CIDR ranges.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidrContains, parseCidr } from '../../../src/domain/policy/cidr.js';
import { arnMatch, wildcardMatch } from '../../../src/domain/policy/index.js';

test('wildcardMatch', () => {
  const rows: ReadonlyArray<readonly [string, string, boolean, boolean?]> = [
    ['*', '', true],
    ['*', 'anything', true],
    ['', '', true],
    ['', 'a', false],
    ['kms:*', 'kms:Encrypt', true],
    ['kms:*', 'kmsx:Encrypt', false],
    ['kms:ReEncrypt*', 'kms:ReEncryptFrom', true],
    ['kms:ReEncrypt*', 'kms:ReEncrypt', true],
    ['kms:Describe*', 'kms:DescribeKey', true],
    ['kms:Describe*', 'kms:ListKeys', false],
    ['kms:*Key', 'kms:DescribeKey', true],
    ['kms:*Key', 'kms:DescribeKeys', false],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXcYYb', false],
    ['**', 'x', true],
    ['kms:encrypt', 'kms:Encrypt', false],
    ['kms:encrypt', 'kms:Encrypt', true, true],
    ['KMS:GENERATE*', 'kms:GenerateDataKey', true, true],
  ];
  for (const [pattern, text, expected, ignoreCase] of rows) {
    assert.equal(wildcardMatch(pattern, text, { ignoreCase: ignoreCase === true }), expected, `${pattern} ~ ${text}`);
  }
  // Escaped patterns (after policy-variable substitution) keep literal wildcards literal.
  assert.equal(wildcardMatch('a\\*', 'a*', { escaped: true }), true);
  assert.equal(wildcardMatch('a\\*', 'ab', { escaped: true }), false);
  assert.equal(wildcardMatch('a\\\\*', 'a\\bc', { escaped: true }), true);
  assert.equal(wildcardMatch('a\\*', 'a\\bc'), true, 'unescaped: the backslash is an ordinary character');
});

test('arnMatch matches each part separately', () => {
  const key = 'arn:aws:kms:us-east-1:111122223333:key/1234';
  const rows: ReadonlyArray<readonly [string, string, boolean]> = [
    ['arn:aws:kms:*:111122223333:key/*', key, true],
    ['arn:aws:kms:*:*:*', key, true],
    ['arn:aws:kms:us-*:111122223333:key/1234', key, true],
    ['arn:aws:kms:*:444455556666:key/*', key, false],
    ['arn:aws:kms:*', key, false],
    ['*', key, true],
    ['arn:aws:kms:*:111122223333:alias/*', key, false],
    ['arn:aws:logs:*:*:log-group:*', 'arn:aws:logs:us-east-2:111122223333:log-group:app:*', true],
    ['arn:aws:kms:*:111122223333:key/*', 'not-an-arn', false],
  ];
  for (const [pattern, value, expected] of rows) assert.equal(arnMatch(pattern, value), expected, `${pattern} ~ ${value}`);
});

test('CIDR parsing and containment', () => {
  const rows: ReadonlyArray<readonly [string, string, boolean]> = [
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['192.168.1.0/31', '192.168.1.1', true],
    ['192.168.1.0/31', '192.168.1.2', false],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['::ffff:192.0.2.0/120', '::ffff:192.0.2.77', true],
    ['fe80::1', 'fe80:0:0:0:0:0:0:1', true],
    ['0.0.0.0/0', '::1', false],
  ];
  for (const [range, ip, expected] of rows) {
    const cidr = parseCidr(range);
    assert.ok(cidr, range);
    assert.equal(cidrContains(cidr, ip), expected, `${ip} in ${range}`);
  }
  for (const bad of ['10.0.0.0/33', '10.0.0', '10.0.0.0.0', '256.0.0.0', '1:2:3:4:5:6:7:8:9', '1::2::3', '2001:db8::/129', 'abc', '10.0.0.0/', '::g']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});
