// The quick start, as a user runs it: the compiled `node dist/src/main.js` with KEYBRIDGE_DATA_DIR
// and KEYBRIDGE_PORT, the instructions it prints, the files it creates, the printed AWS CLI
// command, a clean SIGTERM, and a second start on the same directory that reuses everything.
//
// Runs the real build: `npx tsc -p tsconfig.json` first. A missing dist/src/main.js fails the test.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { freePort } from '../support/free-port.js';
import { AWS_CLI, awsCliMissing } from '../support/kms-client.js';
import { REPO_ROOT } from '../support/repo-root.js';

const root = REPO_ROOT;
const MAIN = join(root, 'dist', 'src', 'main.js');
const tmpDirs: string[] = [];
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

function requireBuild(): void {
  assert.ok(existsSync(MAIN), `${MAIN} does not exist: build first with \`npx tsc -p tsconfig.json\``);
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-quickstart-'));
  tmpDirs.push(dir);
  return dir;
}

interface Keybridge {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(env: Record<string, string>): Keybridge {
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const kb: Keybridge = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on('data', (d: Buffer) => (kb.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (kb.stderr += d.toString()));
  return kb;
}

/** Resolves once stderr holds `line`; fails if the process exits or `ms` pass first. */
async function waitForLine(kb: Keybridge, line: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!kb.stderr.split('\n').some((l) => l.trim() === line)) {
    if (kb.child.exitCode !== null || kb.child.signalCode !== null) {
      assert.fail(`keybridge exited (${kb.child.exitCode ?? kb.child.signalCode}) before printing "${line}"\nstderr:\n${kb.stderr}\nstdout:\n${kb.stdout.slice(-3000)}`);
    }
    if (Date.now() > deadline) assert.fail(`no "${line}" within ${ms} ms\nstderr:\n${kb.stderr}\nstdout:\n${kb.stdout.slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function terminate(kb: Keybridge): Promise<number> {
  const started = Date.now();
  kb.child.kill('SIGTERM');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('keybridge did not exit within 10 s of SIGTERM')), 10_000));
  const { code, signal } = await Promise.race([kb.exited, timeout]);
  assert.equal(signal, null, `killed by ${signal}`);
  assert.equal(code, 0, `exit code ${code}\nstderr:\n${kb.stderr}`);
  return Date.now() - started;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Runs shell text with bash, as a user would paste it. */
function shell(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function readCredentials(path: string): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^\[keybridge\]$/m);
  const id = /^aws_access_key_id\s*=\s*(\S+)$/m.exec(text);
  const secret = /^aws_secret_access_key\s*=\s*(\S+)$/m.exec(text);
  assert.ok(id && secret, `credentials file without keys:\n${text.replace(/(secret_access_key\s*=\s*)\S+/, '$1<hidden>')}`);
  return { accessKeyId: id[1]!, secretAccessKey: secret[1]! };
}

test('the quick start: first run, the printed CLI command, SIGTERM, and a second run that reuses everything', async (t) => {
  requireBuild();
  const home = tempDir();
  const dataDir = join(home, 'data');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: String(port) };

  // ---- First run.
  const first = launch(env);
  await waitForLine(first, `keybridge is listening on ${url}`);
  await waitForLine(first, `aws kms create-key --description "my first keybridge key" --endpoint-url ${url}`, 5000);

  const lines = first.stderr.split('\n').map((l) => l.trim());
  const exportLines = lines.filter((l) => l.startsWith('export '));
  assert.equal(exportLines.length, 1, `export lines:\n${first.stderr}`);
  const exportLine = exportLines[0]!;
  const exported = /^export AWS_SHARED_CREDENTIALS_FILE=(\S+) AWS_PROFILE=keybridge AWS_DEFAULT_REGION=us-east-1$/.exec(exportLine);
  assert.ok(exported, `unexpected export line: ${exportLine}`);
  assert.equal(exported[1], join(dataDir, 'credentials'));
  const awsLines = lines.filter((l) => l.startsWith('aws kms '));
  assert.equal(awsLines.length, 1, `aws example lines:\n${first.stderr}`);
  const awsLine = awsLines[0]!;
  assert.ok(awsLine.endsWith(`--endpoint-url ${url}`), awsLine);
  // The README's web console: the printed address serves the page.
  await waitForLine(first, `Or open the web console at ${url}/console/ and sign in with the [keybridge] profile of ${join(dataDir, 'credentials')}.`, 5000);
  const page = await fetch(`${url}/console/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>keybridge console<\/title>/);

  // ---- The data directory.
  const credentialsPath = join(dataDir, 'credentials');
  assert.equal(mode(credentialsPath), 0o600, 'credentials file mode');
  const credentials = readCredentials(credentialsPath);
  assert.match(credentials.accessKeyId, /^[A-Z0-9]{16,128}$/);
  assert.ok(credentials.secretAccessKey.length >= 30);
  for (const pin of ['user.pin', 'so.pin']) {
    const path = join(dataDir, 'pins', pin);
    assert.ok(statSync(path).isFile(), `${pin} missing`);
    assert.equal(mode(path), 0o600, `${pin} mode`);
    assert.ok(readFileSync(path, 'utf8').trim().length >= 8, `${pin} is too short`);
  }
  assert.equal(mode(join(dataDir, 'pins')), 0o700, 'pins directory mode');
  assert.ok(statSync(join(dataDir, 'keybridge.db')).isFile(), 'keybridge.db missing');
  assert.ok(statSync(join(dataDir, 'tokens')).isDirectory(), 'tokens/ missing');
  assert.ok(readdirSync(join(dataDir, 'tokens')).length > 0, 'tokens/ is empty');
  const userPin = readFileSync(join(dataDir, 'pins', 'user.pin'), 'utf8').trim();
  const soPin = readFileSync(join(dataDir, 'pins', 'so.pin'), 'utf8').trim();

  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);

  // ---- The JS SDK with the written credentials (always), the CLI exactly as printed (if installed).
  const sdk = new KMSClient({ region: 'us-east-1', endpoint: url, credentials, maxAttempts: 1 });
  const plaintext = randomBytes(40);
  const sdkKey = (await sdk.send(new CreateKeyCommand({ Description: 'quick start sdk key' }))).KeyMetadata!.KeyId!;
  const sdkBlob = (await sdk.send(new EncryptCommand({ KeyId: sdkKey, Plaintext: plaintext }))).CiphertextBlob!;

  const cliEnv = { PATH: '/usr/bin:/bin', HOME: home, AWS_PAGER: '' };
  const plaintextFile = join(home, 'plaintext.bin');
  const blobFile = join(home, 'ciphertext.bin');
  writeFileSync(plaintextFile, plaintext);
  let cliKey: string | undefined;
  await t.test('the printed `aws kms create-key`, then encrypt, with the printed exports', { skip: awsCliMissing }, async () => {
    const created = await shell(`${exportLine}\n${awsLine} --output json`, cliEnv);
    assert.equal(created.code, 0, `aws kms create-key failed:\n${created.stderr}`);
    const metadata = JSON.parse(created.stdout).KeyMetadata;
    assert.equal(metadata.Description, 'my first keybridge key');
    assert.equal(metadata.KeyState, 'Enabled');
    cliKey = metadata.KeyId as string;
    const encrypted = await shell(`${exportLine}\n${AWS_CLI} kms encrypt --key-id ${cliKey} --plaintext fileb://${plaintextFile} --endpoint-url ${url} --output json`, cliEnv);
    assert.equal(encrypted.code, 0, `aws kms encrypt failed:\n${encrypted.stderr}`);
    const out = JSON.parse(encrypted.stdout);
    assert.equal(out.KeyId, metadata.Arn);
    writeFileSync(blobFile, Buffer.from(out.CiphertextBlob, 'base64'));
  });

  // ---- SIGTERM: a clean, quick exit.
  const stopMs = await terminate(first);
  assert.ok(stopMs < 5000, `SIGTERM took ${stopMs} ms`);
  const credentialBytes = readFileSync(credentialsPath);
  const pinBytes = [readFileSync(join(dataDir, 'pins', 'user.pin')), readFileSync(join(dataDir, 'pins', 'so.pin'))];
  assert.match(first.stdout, /initialised the embedded SoftHSM2 token/);

  // ---- Second run on the same directory.
  const second = launch(env);
  await waitForLine(second, `keybridge is listening on ${url}`);
  assert.ok(readFileSync(credentialsPath).equals(credentialBytes), 'the credentials file changed on the second start');
  assert.ok(readFileSync(join(dataDir, 'pins', 'user.pin')).equals(pinBytes[0]!), 'user.pin changed');
  assert.ok(readFileSync(join(dataDir, 'pins', 'so.pin')).equals(pinBytes[1]!), 'so.pin changed');
  assert.doesNotMatch(second.stdout, /initialised the embedded SoftHSM2 token|wrote operator credentials/, 'the second start initialised something');
  assert.equal(second.stderr.split('\n').filter((l) => l.trim() === exportLine).length, 1, `second start instructions:\n${second.stderr}`);

  const described = (await sdk.send(new DescribeKeyCommand({ KeyId: sdkKey }))).KeyMetadata!;
  assert.equal(described.Description, 'quick start sdk key');
  const decrypted = await sdk.send(new DecryptCommand({ CiphertextBlob: sdkBlob }));
  assert.ok(Buffer.from(decrypted.Plaintext!).equals(plaintext));

  await t.test('the CLI key and its ciphertext survive the restart', { skip: awsCliMissing }, async () => {
    assert.ok(cliKey, 'the CLI key was not created');
    const described = await shell(`${exportLine}\n${AWS_CLI} kms describe-key --key-id ${cliKey} --endpoint-url ${url} --output json`, cliEnv);
    assert.equal(described.code, 0, described.stderr);
    assert.equal(JSON.parse(described.stdout).KeyMetadata.Description, 'my first keybridge key');
    const decrypted = await shell(`${exportLine}\n${AWS_CLI} kms decrypt --ciphertext-blob fileb://${blobFile} --endpoint-url ${url} --output json`, cliEnv);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.ok(Buffer.from(JSON.parse(decrypted.stdout).Plaintext, 'base64').equals(plaintext));
  });

  await terminate(second);

  // ---- No PIN, and not the secret key, in anything the process printed.
  for (const [name, output] of [['first run', first.stdout + first.stderr], ['second run', second.stdout + second.stderr]] as const) {
    assert.ok(!output.includes(userPin), `the user PIN appears in the ${name}'s output`);
    assert.ok(!output.includes(soPin), `the SO PIN appears in the ${name}'s output`);
    assert.ok(!output.includes(credentials.secretAccessKey), `the secret access key appears in the ${name}'s output`);
  }
  // The outputs are real (so the checks above looked at something).
  assert.ok(first.stdout.includes('keybridge is serving the KMS API') && second.stdout.includes('keybridge is serving the KMS API'));
});

test('a configuration error exits non-zero, names listen.port, and creates nothing', async () => {
  requireBuild();
  const home = tempDir();
  const dataDir = join(home, 'never-created');
  const kb = launch({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KEYBRIDGE_DATA_DIR: dataDir, KEYBRIDGE_PORT: 'notaport' });
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within 15 s\nstderr:\n${kb.stderr}`)), 15_000));
  const { code, signal } = await Promise.race([kb.exited, timeout]);
  assert.equal(signal, null);
  assert.notEqual(code, 0);
  assert.match(kb.stderr, /listen\.port/, `stderr:\n${kb.stderr}`);
  assert.doesNotMatch(kb.stderr, /^\s+at /m, 'a stack trace instead of a message');
  assert.ok(!existsSync(dataDir), 'the data directory was created despite the configuration error');
});
