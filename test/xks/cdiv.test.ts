// The Ciphertext Data Integrity Value as the XKS Proxy API spec v1.0.3 defines it (Appendix C),
// checked against the spec's own worked example. The conformance tests compare the proxy's CDIV
// with cdivOf(), so cdivOf() itself must reproduce the spec's vector exactly.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { cdivOf } from '../support/xks-client.js';

// Spec, Encrypt "Request Payload Example" and "Response Payload Example".
const SPEC = {
  plaintext: 'SGVsbG8gV29ybGQh', // "Hello World!"
  additionalAuthenticatedData: 'cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n', // "project=nile,department=marketing"
  authenticationTag: 'vBxN2ncH1oEkR8WVXpmyYQ==',
  ciphertext: 'ghxkK1txeDNn3q8Y',
  ciphertextDataIntegrityValue: 'qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=',
  ciphertextMetadata: 'a2V5X3ZlcnNpb249MQ==', // "key_version=1"
  initializationVector: 'HMrlRw85cAJUd5Ax',
};

// Spec Appendix C: the 86 bytes, in hex, that are hashed.
const APPENDIX_C_HEX = `
70 72 6f 6a 65 63 74 3d  6e 69 6c 65 2c 64 65 70
61 72 74 6d 65 6e 74 3d  6d 61 72 6b 65 74 69 6e
67
6b 65 79 5f 76 65 72 73  69 6f 6e 3d 31
1c ca e5 47 0f 39 70 02  54 77 90 31
82 1c 64 2b 5b 71 78 33  67 de af 18
bc 1c 4d da 77 07 d6 81  24 47 c5 95 5e 99 b2 61`;
const APPENDIX_C_SHA256 = 'a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7';

const b = (s: string) => Buffer.from(s, 'base64');

describe('CDIV (spec Appendix C)', () => {
  test('the example fields have the sizes the spec states: 33 AAD, 13 metadata, 12 IV, 12 ciphertext, 16 tag', () => {
    assert.equal(b(SPEC.additionalAuthenticatedData).length, 33);
    assert.equal(b(SPEC.ciphertextMetadata).length, 13);
    assert.equal(b(SPEC.initializationVector).length, 12);
    assert.equal(b(SPEC.ciphertext).length, 12);
    assert.equal(b(SPEC.authenticationTag).length, 16);
    assert.equal(b(SPEC.ciphertext).length, b(SPEC.plaintext).length, 'ciphertext length = plaintext length');
    assert.equal(b(SPEC.additionalAuthenticatedData).toString(), 'project=nile,department=marketing');
    assert.equal(b(SPEC.ciphertextMetadata).toString(), 'key_version=1');
  });

  test('aad ‖ metadata ‖ iv ‖ ciphertext ‖ tag is the 86-byte array the spec prints, hashing to its SHA-256', () => {
    const printed = Buffer.from(APPENDIX_C_HEX.replace(/\s+/g, ''), 'hex');
    assert.equal(printed.length, 86);
    const concatenated = Buffer.concat(
      [SPEC.additionalAuthenticatedData, SPEC.ciphertextMetadata, SPEC.initializationVector, SPEC.ciphertext, SPEC.authenticationTag].map(b),
    );
    assert.deepEqual(concatenated, printed);
    assert.equal(createHash('sha256').update(printed).digest('hex'), APPENDIX_C_SHA256);
    assert.equal(Buffer.from(APPENDIX_C_SHA256, 'hex').toString('base64'), SPEC.ciphertextDataIntegrityValue);
  });

  test('cdivOf reproduces the spec vector qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=', () => {
    const value = cdivOf({
      aad: b(SPEC.additionalAuthenticatedData),
      metadata: b(SPEC.ciphertextMetadata),
      iv: b(SPEC.initializationVector),
      ciphertext: b(SPEC.ciphertext),
      tag: b(SPEC.authenticationTag),
    });
    assert.equal(value, 'qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=');
  });

  test('absent AAD and metadata count as empty, with no lengths (spec Appendix C cases 2-4)', () => {
    const iv = b(SPEC.initializationVector);
    const ciphertext = b(SPEC.ciphertext);
    const tag = b(SPEC.authenticationTag);
    const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest('base64');
    assert.equal(cdivOf({ iv, ciphertext, tag }), sha(iv, ciphertext, tag));
    assert.equal(cdivOf({ aad: b(SPEC.additionalAuthenticatedData), iv, ciphertext, tag }), sha(b(SPEC.additionalAuthenticatedData), iv, ciphertext, tag));
    assert.equal(cdivOf({ metadata: b(SPEC.ciphertextMetadata), iv, ciphertext, tag }), sha(b(SPEC.ciphertextMetadata), iv, ciphertext, tag));
    assert.notEqual(cdivOf({ iv, ciphertext, tag }), SPEC.ciphertextDataIntegrityValue);
  });
});
