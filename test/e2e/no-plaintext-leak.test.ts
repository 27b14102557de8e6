// No plaintext ever reaches disk. Distinctive secrets go through every operation that carries
// plaintext (and through failed calls that carry it), then the log and every file under the data
// directory (SQLite database and WAL, token files, …) are searched for each secret as raw bytes,
// hex, base64 and base64url (at every byte alignment). The PINs and the secret access key must not
// be in the log either. A positive control proves the search finds each form.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { rawRequest, type RawRequest, type RawResponse } from '../support/raw-request.js';
import { startServer, type TestServer } from '../support/server.js';

// ---- Finding a secret in any of its encodings ----------------------------------------------------

interface Needle {
  readonly form: string;
  readonly bytes: Buffer;
}

/**
 * The part of base64(prefix ‖ secret ‖ anything) that depends on the secret alone, for a prefix of
 * `shift` bytes: drop the group that mixes in prefix bytes and the last (possibly partial) group.
 */
function base64Core(secret: Buffer, shift: number, encoding: 'base64' | 'base64url'): string {
  const text = Buffer.concat([Buffer.alloc(shift), secret]).toString(encoding).replace(/=+$/, '');
  const start = shift === 0 ? 0 : 4;
  return text.slice(start, Math.max(start, text.length - 4));
}

function needlesOf(secret: Buffer): Needle[] {
  const needles: Needle[] = [
    { form: 'raw', bytes: secret },
    { form: 'hex', bytes: Buffer.from(secret.toString('hex')) },
    { form: 'HEX', bytes: Buffer.from(secret.toString('hex').toUpperCase()) },
  ];
  for (const encoding of ['base64', 'base64url'] as const) {
    for (const shift of [0, 1, 2]) {
      const core = base64Core(secret, shift, encoding);
      assert.ok(core.length >= 16, `a ${secret.length}-byte secret is too short to search for in ${encoding}`);
      needles.push({ form: `${encoding}@${shift}`, bytes: Buffer.from(core) });
    }
  }
  return needles;
}

interface Secret {
  readonly name: string;
  readonly value: Buffer;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** Every (file, secret, form) where the secret shows up. */
function findSecrets(files: readonly string[], secrets: readonly Secret[]): string[] {
  const hits: string[] = [];
  for (const file of files) {
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch (err) {
      // A WAL or lock file can vanish between listing and reading while the server runs.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const secret of secrets) {
      for (const needle of needlesOf(secret.value)) {
        if (content.includes(needle.bytes)) hits.push(`${file}: ${secret.name} as ${needle.form}`);
      }
    }
  }
  return hits;
}

// ---- The server and the secrets ------------------------------------------------------------------

let server: TestServer;
let controlDir: string;
const marker = randomBytes(32);
const textMarker = Buffer.from(`kb-leak-marker-${randomBytes(12).toString('hex')}`);
/** Not secret: stored on purpose, so finding it proves the database files are searchable. */
const description = `leak-test-description-${randomBytes(8).toString('hex')}`;
const captured: Secret[] = [];
const responses: RawResponse[] = [];

before(async () => {
  server = await startServer();
  controlDir = mkdtempSync(join(tmpdir(), 'keybridge-leak-control-'));
});

after(async () => {
  await server?.destroy();
  if (controlDir) rmSync(controlDir, { recursive: true, force: true });
});

async function send(req: RawRequest): Promise<RawResponse> {
  const res = await rawRequest(server, req);
  responses.push(res);
  assert.ok(res.status < 500, `${req.target}: ${res.status} ${res.body}`);
  return res;
}

async function call(operation: string, body: unknown, extra: Partial<RawRequest> = {}): Promise<RawResponse> {
  return send({ target: `TrentService.${operation}`, body: JSON.stringify(body), ...extra });
}

async function must(operation: string, body: unknown): Promise<any> {
  const res = await call(operation, body);
  assert.equal(res.status, 200, `${operation}: ${res.body}`);
  return res.json;
}

async function fails(operation: string, body: unknown, type: string, extra: Partial<RawRequest> = {}): Promise<RawResponse> {
  const res = await call(operation, body, extra);
  assert.equal(res.json?.__type, type, `${operation}: expected ${type}, got ${res.status} ${res.body}`);
  return res;
}

test('positive control: the search finds every form of a secret, at any offset and alignment', () => {
  const secrets: Secret[] = [
    { name: 'marker', value: marker },
    { name: 'text marker', value: textMarker },
  ];
  const encoders: Array<[string, (b: Buffer) => string | Buffer]> = [
    ['raw', (b) => b],
    ['hex', (b) => b.toString('hex')],
    ['HEX', (b) => b.toString('hex').toUpperCase()],
    ['base64', (b) => b.toString('base64')],
    ['base64url', (b) => b.toString('base64url')],
  ];
  for (const secret of secrets) {
    for (const [form, encode] of encoders) {
      for (const shift of [0, 1, 2]) {
        const file = join(controlDir, `control-${secret.name.replace(' ', '-')}-${form}-${shift}`);
        const surrounded = Buffer.concat([randomBytes(shift), secret.value, randomBytes(5)]);
        const encoded = encode(surrounded);
        writeFileSync(file, Buffer.concat([Buffer.from('{"level":30,"msg":"x","blob":"'), Buffer.from(encoded), Buffer.from('"}\n')]));
        const hits = findSecrets([file], secrets);
        assert.ok(hits.some((h) => h.includes(secret.name)), `${secret.name} as ${form} at shift ${shift} was not found`);
        assert.ok(!hits.some((h) => !h.includes(secret.name)), `false positive: ${hits.join('; ')}`);
      }
    }
  }
  // And nothing in a file that does not hold a secret.
  const clean = join(controlDir, 'clean');
  writeFileSync(clean, randomBytes(100_000));
  assert.deepEqual(findSecrets([clean], secrets), []);
});

test('plaintexts, data keys and random bytes never reach the log or the data directory', async () => {
  // ---- Successful calls carrying secrets.
  const key = (await must('CreateKey', { Description: description })).KeyMetadata;
  const other = (await must('CreateKey', { Description: 'leak-test-other' })).KeyMetadata;
  const context = { purpose: 'leak-test' };

  const enc1 = await must('Encrypt', { KeyId: key.KeyId, Plaintext: marker.toString('base64'), EncryptionContext: context });
  const enc2 = await must('Encrypt', { KeyId: key.KeyId, Plaintext: textMarker.toString('base64') });
  assert.ok(!Buffer.from(enc1.CiphertextBlob, 'base64').includes(marker), 'the ciphertext contains the plaintext');
  const dec1 = await must('Decrypt', { CiphertextBlob: enc1.CiphertextBlob, EncryptionContext: context });
  assert.ok(Buffer.from(dec1.Plaintext, 'base64').equals(marker));
  const dec2 = await must('Decrypt', { CiphertextBlob: enc2.CiphertextBlob, KeyId: key.Arn });
  assert.ok(Buffer.from(dec2.Plaintext, 'base64').equals(textMarker));

  const re = await must('ReEncrypt', {
    CiphertextBlob: enc1.CiphertextBlob,
    SourceEncryptionContext: context,
    DestinationKeyId: other.KeyId,
    DestinationEncryptionContext: { purpose: 'moved' },
  });
  const dec3 = await must('Decrypt', { CiphertextBlob: re.CiphertextBlob, EncryptionContext: { purpose: 'moved' } });
  assert.ok(Buffer.from(dec3.Plaintext, 'base64').equals(marker));

  const dataKey = await must('GenerateDataKey', { KeyId: key.KeyId, KeySpec: 'AES_256', EncryptionContext: context });
  captured.push({ name: 'data key (AES_256)', value: Buffer.from(dataKey.Plaintext, 'base64') });
  const dataKey64 = await must('GenerateDataKey', { KeyId: key.Arn, NumberOfBytes: 64 });
  captured.push({ name: 'data key (64 bytes)', value: Buffer.from(dataKey64.Plaintext, 'base64') });
  const dataKeyBack = await must('Decrypt', { CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: context });
  assert.equal(dataKeyBack.Plaintext, dataKey.Plaintext);
  await must('GenerateDataKeyWithoutPlaintext', { KeyId: key.KeyId, KeySpec: 'AES_128' });
  const random = await must('GenerateRandom', { NumberOfBytes: 64 });
  captured.push({ name: 'GenerateRandom output', value: Buffer.from(random.Plaintext, 'base64') });
  for (const s of captured) assert.ok(s.value.length >= 32, `${s.name} is only ${s.value.length} bytes`);

  // ---- Failed calls carrying the secrets.
  const b64 = marker.toString('base64');
  const oversized = Buffer.concat(Array.from({ length: 140 }, () => marker)); // 4480 bytes
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: oversized.toString('base64') }, 'ValidationException');
  const oversizedText = Buffer.concat(Array.from({ length: 120 }, () => textMarker));
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: oversizedText.toString('base64') }, 'ValidationException');
  await fails('Encrypt', { KeyId: randomUUID(), Plaintext: b64 }, 'NotFoundException');
  await fails('Encrypt', { KeyId: 'alias/does-not-exist', Plaintext: textMarker.toString('base64') }, 'NotFoundException');
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64, EncryptionContext: 'not a map' }, 'SerializationException');
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }, 'InvalidKeyUsageException');
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64, DryRun: true }, 'DryRunOperationException');
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: `${textMarker.toString('utf8')}!` }, 'SerializationException');
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64 }, 'MissingAuthenticationTokenException', { sign: false });
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64 }, 'InvalidSignatureException', {
    credentials: { accessKeyId: server.credentials.accessKeyId, secretAccessKey: 'wrong-secret' },
  });
  await fails('Encrypt', { KeyId: key.KeyId, Plaintext: b64 }, 'SerializationException', { contentType: 'text/plain' });
  const truncated = await send({ target: 'TrentService.Encrypt', body: `{"KeyId":"${key.KeyId}","Plaintext":"${b64}"` });
  assert.equal(truncated.json?.__type, 'SerializationException', truncated.body);
  // Hex digits are valid base64 too: the decoded bytes become a plaintext like any other.
  const hexAsBase64 = await must('Encrypt', { KeyId: key.KeyId, Plaintext: marker.toString('hex') });
  assert.equal(typeof hexAsBase64.CiphertextBlob, 'string');
  captured.push({ name: 'hex-as-base64 plaintext', value: Buffer.from(marker.toString('hex'), 'base64') });
  const tooLarge = await send({ target: 'TrentService.Encrypt', body: JSON.stringify({ KeyId: key.KeyId, Plaintext: b64.repeat(30_000) }) });
  assert.equal(tooLarge.json?.__type, 'RequestEntityTooLargeException', tooLarge.body.slice(0, 200));

  await must('DisableKey', { KeyId: other.KeyId });
  await fails('Encrypt', { KeyId: other.KeyId, Plaintext: b64 }, 'DisabledException');
  await fails('Decrypt', { CiphertextBlob: re.CiphertextBlob, EncryptionContext: { purpose: 'moved' } }, 'DisabledException');
  await fails('Decrypt', { CiphertextBlob: enc1.CiphertextBlob, EncryptionContext: { purpose: 'wrong' } }, 'InvalidCiphertextException');
  const tampered = Buffer.from(enc1.CiphertextBlob, 'base64');
  tampered[70] = tampered[70]! ^ 0xff;
  await fails('Decrypt', { CiphertextBlob: tampered.toString('base64'), EncryptionContext: context }, 'InvalidCiphertextException');
  await fails('Decrypt', { CiphertextBlob: enc1.CiphertextBlob, EncryptionContext: context, KeyId: other.KeyId }, 'IncorrectKeyException');
  await fails('ReEncrypt', { CiphertextBlob: enc2.CiphertextBlob, DestinationKeyId: other.KeyId }, 'DisabledException');

  const secrets: Secret[] = [
    { name: 'marker', value: marker },
    { name: 'text marker', value: textMarker },
    ...captured,
  ];

  // ---- No error response echoes a secret.
  const errorBodies = responses.filter((r) => r.status !== 200);
  assert.ok(errorBodies.length >= 18, `only ${errorBodies.length} failed calls`);
  for (const res of errorBodies) {
    for (const s of secrets) {
      for (const needle of needlesOf(s.value)) {
        assert.ok(!Buffer.from(res.body).includes(needle.bytes), `an error response contains ${s.name} as ${needle.form}: ${res.body.slice(0, 300)}`);
      }
    }
  }

  // ---- Search while running: the WAL holds the latest writes now.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const liveFiles = filesUnder(server.dataDir);
  const live = liveFiles.map((f) => relative(server.dataDir, f));
  assert.ok(live.includes('keybridge.db-wal'), `no WAL file while running: ${live.join(', ')}`);
  assert.deepEqual(findSecrets(liveFiles, secrets), []);
  // Positive control on the real files: the stored description is found in the database files.
  const dbFiles = liveFiles.filter((f) => f.includes('keybridge.db'));
  assert.ok(findSecrets(dbFiles, [{ name: 'description', value: Buffer.from(description) }]).length > 0, 'the description is not in the live database files');

  // ---- Stop (flushes the log, checkpoints the WAL) and search everything.
  await server.stop();
  const files = filesUnder(server.dataDir);
  const names = files.map((f) => relative(server.dataDir, f));
  for (const expected of ['keybridge.log', 'keybridge.db', 'credentials', 'pins/user.pin', 'softhsm2.conf']) {
    assert.ok(names.includes(expected), `${expected} missing from the data directory (${names.join(', ')})`);
  }
  assert.ok(names.filter((n) => n.startsWith('tokens/')).length >= 2, `token files: ${names.join(', ')}`);
  const hits = findSecrets(files, secrets);
  assert.deepEqual(hits, [], `secrets found on disk:\n${hits.join('\n')}`);
  assert.ok(findSecrets(files.filter((f) => f.includes('keybridge.db')), [{ name: 'description', value: Buffer.from(description) }]).length > 0, 'the description is not in the database after stop');

  // The log is complete: it names the requests we made (so it was flushed before the search).
  const log = readFileSync(server.logFile, 'utf8');
  const lastId = responses.at(-1)!.headers['x-amzn-requestid'] as string;
  assert.ok(log.includes(lastId), 'the last request is not in the log');
  assert.ok(log.includes('"operation":"GenerateDataKey"'), 'GenerateDataKey is not in the log');

  // ---- PINs and the secret access key never appear in the log (nor in the database).
  const userPin = readFileSync(join(server.dataDir, 'pins', 'user.pin'), 'utf8').trim();
  const soPin = readFileSync(join(server.dataDir, 'pins', 'so.pin'), 'utf8').trim();
  assert.ok(userPin.length >= 8 && soPin.length >= 8);
  const credentialSecrets: Secret[] = [
    { name: 'user PIN', value: Buffer.from(userPin) },
    { name: 'SO PIN', value: Buffer.from(soPin) },
    { name: 'secret access key', value: Buffer.from(server.credentials.secretAccessKey) },
  ];
  assert.deepEqual(findSecrets([server.logFile, ...files.filter((f) => f.includes('keybridge.db'))], credentialSecrets), []);
  // Control: the same search does find the PIN in its own file.
  assert.equal(findSecrets([join(server.dataDir, 'pins', 'user.pin')], credentialSecrets.slice(0, 1)).length > 0, true);
});
