import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  CredentialsFileError, generateAccessKey, readCredentialsFile, writeCredentialsProfile,
} from '../../src/auth/credentials-file.js';

const dir = mkdtempSync(join(tmpdir(), 'keybridge-creds-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${n++}`, 'credentials');

const HAND_WRITTEN = `# written by hand
; also a comment

[default]
aws_access_key_id=AKIADEFAULT000000000
aws_secret_access_key   =   defaultSecret/with+chars
region = eu-west-1

  [ keybridge ]
  # indented comment
  aws_access_key_id = AKIAKEYBRIDGE0000000\r
  aws_secret_access_key = kbSecret\r

[incomplete]
aws_access_key_id = AKIAINCOMPLETE000000
`;

describe('readCredentialsFile', () => {
  test('parses a hand-written file with comments, blank lines, spaces around = and CRLF', () => {
    const path = join(dir, 'hand');
    writeFileSync(path, HAND_WRITTEN);
    const profiles = readCredentialsFile(path);
    assert.deepEqual([...profiles.keys()], ['default', 'keybridge']); // incomplete profiles are left out
    assert.deepEqual(profiles.get('default'), { accessKeyId: 'AKIADEFAULT000000000', secretAccessKey: 'defaultSecret/with+chars' });
    assert.deepEqual(profiles.get('keybridge'), { accessKeyId: 'AKIAKEYBRIDGE0000000', secretAccessKey: 'kbSecret' });
  });

  test('rejects lines that are not INI, naming the line but not its content', () => {
    const path = join(dir, 'bad');
    writeFileSync(path, '[default]\naws_access_key_id = A\nsecretwithoutequals\n');
    assert.throws(() => readCredentialsFile(path), (err: unknown) =>
      err instanceof CredentialsFileError && err.code === 'ERR_CREDENTIALS_FILE' && err.message.endsWith(':3: expected [profile] or key = value') &&
      !err.message.includes('secretwithoutequals'));
    writeFileSync(path, 'aws_access_key_id = A\n');
    assert.throws(() => readCredentialsFile(path), CredentialsFileError);
  });

  test('a missing file is an ENOENT error', () => {
    assert.throws(() => readCredentialsFile(join(dir, 'nope')), { code: 'ENOENT' });
  });
});

describe('writeCredentialsProfile', () => {
  test('round trip into a new file (and directory), mode 0600', () => {
    const path = fresh();
    const creds = generateAccessKey();
    writeCredentialsProfile(path, 'keybridge', creds);
    assert.deepEqual(readCredentialsFile(path).get('keybridge'), creds);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), `[keybridge]\naws_access_key_id = ${creds.accessKeyId}\naws_secret_access_key = ${creds.secretAccessKey}\n`);
  });

  test('adds a profile while keeping the others, their comments and extra keys', () => {
    const path = fresh();
    writeCredentialsProfile(path, 'x', { accessKeyId: 'AKIAXXXXXXXXXXXXXXXX', secretAccessKey: 's' }); // creates the dir
    writeFileSync(path, HAND_WRITTEN);
    const creds = generateAccessKey();
    writeCredentialsProfile(path, 'new', creds);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.startsWith(HAND_WRITTEN), 'existing text kept verbatim');
    const profiles = readCredentialsFile(path);
    assert.deepEqual([...profiles.keys()], ['default', 'keybridge', 'new']);
    assert.deepEqual(profiles.get('new'), creds);
    assert.ok(text.includes('region = eu-west-1'));
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('replaces an existing profile in place and keeps the rest', () => {
    const path = fresh();
    writeCredentialsProfile(path, 'x', { accessKeyId: 'AKIAXXXXXXXXXXXXXXXX', secretAccessKey: 's' });
    writeFileSync(path, HAND_WRITTEN, { mode: 0o644 });
    const creds = generateAccessKey();
    writeCredentialsProfile(path, 'keybridge', creds);
    const profiles = readCredentialsFile(path);
    assert.deepEqual([...profiles.keys()], ['default', 'keybridge']);
    assert.deepEqual(profiles.get('keybridge'), creds);
    assert.deepEqual(profiles.get('default'), { accessKeyId: 'AKIADEFAULT000000000', secretAccessKey: 'defaultSecret/with+chars' });
    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes('kbSecret'), 'old secret gone');
    assert.ok(text.includes('# indented comment') && text.includes('# written by hand'));
    assert.ok(text.indexOf('[keybridge]') < text.indexOf('[incomplete]'), 'replaced where it was');
    assert.equal(text.split('[keybridge]').length, 2);
    assert.equal(statSync(path).mode & 0o777, 0o600, 'a 0644 file becomes 0600');
  });

  test('leaves no temporary files behind', () => {
    const path = fresh();
    writeCredentialsProfile(path, 'a', generateAccessKey());
    writeCredentialsProfile(path, 'b', generateAccessKey());
    writeCredentialsProfile(path, 'a', generateAccessKey());
    assert.deepEqual(readdirSync(join(path, '..')), ['credentials']);
  });

  test('refuses profile names and values that would not survive the INI format', () => {
    const path = fresh();
    const ok = generateAccessKey();
    for (const profile of ['', ' x', 'a]b', 'a\nb']) {
      assert.throws(() => writeCredentialsProfile(path, profile, ok), CredentialsFileError);
    }
    assert.throws(() => writeCredentialsProfile(path, 'p', { ...ok, secretAccessKey: 'has space' }), CredentialsFileError);
    assert.throws(() => writeCredentialsProfile(path, 'p', { ...ok, accessKeyId: '' }), CredentialsFileError);
  });
});

describe('generateAccessKey', () => {
  test('AWS-shaped ids and secrets, different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { accessKeyId, secretAccessKey } = generateAccessKey();
      assert.match(accessKeyId, /^AKIA[A-Z2-7]{16}$/);
      assert.match(secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
      seen.add(accessKeyId);
      seen.add(secretAccessKey);
    }
    assert.equal(seen.size, 400);
  });
});
