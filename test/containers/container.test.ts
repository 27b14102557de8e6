// The container image end to end (issue #7): docker/Dockerfile built and run with testcontainers on
// the machine's container engine, driven with the JS SDK and the AWS CLI. Keys, aliases and
// ciphertexts survive a new container on the same volume, a custom key store on the SoftHSM2
// example cluster reconnects by itself, SIGTERM under load loses no acknowledged key, the process
// is not root, and no PIN shows in inspect output or logs.
//
// Needs a container engine serving the Docker API: DOCKER_HOST (CI: scripts/container-engine.sh
// prepares podman and prints it) or /var/run/docker.sock. Without one every test here is skipped
// with the reason, unless KEYBRIDGE_REQUIRE_CONTAINERS=1 (set by .ci/run), which makes it a failure.
//
// Loopback only: containers use the host's network and listen on 127.0.0.1 at a port chosen here;
// nothing is sent to a container network's addresses.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ConnectCustomKeyStoreCommand,
  CreateAliasCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  ListAliasesCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';
import { generateAccessKey, readCredentialsFile, type FileCredentials } from '../../src/auth/credentials-file.js';
import { awsCliMissing, awsKms, sdkClient, type CliEndpoint, type KmsEndpoint } from '../support/kms-client.js';

const ROOT = repoRoot();
const REGION = 'us-east-1';
const CLUSTER = 'cluster-kbExampleTwo';
const TRUST_ANCHOR = readFileSync(join(ROOT, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
/** The tag the tests run; each run builds under a unique tag first, so a failed build cannot leave an old image here. */
const IMAGE = 'localhost/keybridge:container-test';
const SERVING = /keybridge is serving the KMS API/;
const STOP_GRACE_MS = 30_000;

function repoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'docker', 'Dockerfile'))) return dir;
    if (dirname(dir) === dir) throw new Error('docker/Dockerfile not found above the test');
  }
}

// --- is there an engine? --------------------------------------------------------------------------

function pingUnix(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function tcpAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** false when an engine answers, else the reason the tests cannot run. */
async function engineMissing(): Promise<string | false> {
  const dockerHost = process.env.DOCKER_HOST;
  if (!dockerHost) {
    if (await pingUnix('/var/run/docker.sock')) return false;
    return 'no container engine: DOCKER_HOST is not set and /var/run/docker.sock does not answer (CI prepares podman with scripts/container-engine.sh)';
  }
  if (dockerHost.startsWith('unix://')) {
    return (await pingUnix(dockerHost.slice('unix://'.length))) ? false : `no container engine: the socket does not answer (DOCKER_HOST=${dockerHost})`;
  }
  if (dockerHost.startsWith('tcp://')) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return (await tcpAnswers(url.hostname, Number(url.port || 2375))) ? false : `no container engine: nothing answers at DOCKER_HOST=${dockerHost}`;
  }
  return `no container engine: DOCKER_HOST=${dockerHost} is neither unix:// nor tcp://`;
}

const missing = await engineMissing();
const required = process.env.KEYBRIDGE_REQUIRE_CONTAINERS === '1';
if (missing && required) {
  test('a container engine is available (KEYBRIDGE_REQUIRE_CONTAINERS=1)', () => assert.fail(missing));
}
const skip: string | false = missing && !required ? missing : false;
if (skip) process.stderr.write(`container tests skipped: ${skip}\n`);

// --- helpers ------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function dockerode() {
  return (await getContainerRuntimeClient()).container.dockerode;
}

/** Every container this file started (stopped ones too, until the end): inspect and log checks. */
const containers: Array<{ container: StartedTestContainer; logs: () => string }> = [];
const volumes: string[] = [];
const scratchDirs: string[] = [];

function newVolume(): string {
  const name = `keybridge-test-${randomBytes(5).toString('hex')}`;
  volumes.push(name);
  return name;
}

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keybridge-container-'));
  scratchDirs.push(dir);
  return dir;
}

interface Node extends KmsEndpoint, CliEndpoint {
  readonly container: StartedTestContainer;
  readonly port: number;
  logs(): string;
  /** stdout of a command run in the container as its user; fails the test on a non-zero exit. */
  exec(command: string[], env?: Record<string, string>): Promise<string>;
  /** SIGTERM (the image's STOPSIGNAL); resolves the exit code and how long the stop took. */
  stop(): Promise<{ exitCode: number; ms: number }>;
}

interface StartOptions {
  readonly env?: Record<string, string>;
  readonly mounts?: Array<{ source: string; target: string; mode?: 'rw' | 'ro' }>;
  /** Credentials when they are not the embedded default's /data/credentials. */
  readonly credentials?: FileCredentials;
}

async function startKeybridge(volume: string, options: StartOptions = {}): Promise<Node> {
  const port = await freePort();
  let logs = '';
  let logsEnded: Promise<void> = Promise.resolve();
  const container = await new GenericContainer(IMAGE)
    .withNetworkMode('host')
    .withEnvironment({ KEYBRIDGE_HOST: '127.0.0.1', KEYBRIDGE_PORT: String(port), ...options.env })
    .withBindMounts([{ source: volume, target: '/data', mode: 'rw' }, ...(options.mounts ?? [])])
    .withLogConsumer((stream) => {
      logsEnded = new Promise((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
      });
      stream.on('data', (chunk: Buffer | string) => (logs += chunk.toString()));
    })
    .withWaitStrategy(Wait.forLogMessage(SERVING))
    .withStartupTimeout(90_000)
    .start();
  containers.push({ container, logs: () => logs });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await getStatus(`${url}/readyz`)) !== 200) {
    if (Date.now() > deadline) assert.fail(`${url}/readyz did not answer 200 within 30 s; logs:\n${logs}`);
    await sleep(100);
  }
  const exec = async (command: string[], env?: Record<string, string>) => {
    const result = await container.exec(command, env ? { env } : {});
    assert.equal(result.exitCode, 0, `${command.join(' ')} exited ${result.exitCode}: ${result.output}`);
    return result.stdout;
  };
  // The operator's keys, read from the container (files under /data belong to uid 10001, mode 0600).
  const home = scratchDir();
  const credentialsFile = join(home, 'credentials');
  if (options.credentials) {
    writeFileSync(credentialsFile, `[keybridge]\naws_access_key_id = ${options.credentials.accessKeyId}\naws_secret_access_key = ${options.credentials.secretAccessKey}\n`, { mode: 0o600 });
  } else {
    writeFileSync(credentialsFile, await exec(['cat', '/data/credentials']), { mode: 0o600 });
  }
  const credentials = readCredentialsFile(credentialsFile).get('keybridge');
  assert.ok(credentials, 'the credentials file has the keybridge profile');
  return {
    container,
    port,
    url,
    region: REGION,
    credentials,
    dataDir: home,
    credentialsFile,
    logs: () => logs,
    exec,
    async stop() {
      const started = Date.now();
      await container.stop({ timeout: STOP_GRACE_MS, remove: false });
      const ms = Date.now() - started;
      // The log stream delivers the last lines after the container has stopped.
      await Promise.race([logsEnded, sleep(10_000)]);
      const info = await (await dockerode()).getContainer(container.getId()).inspect();
      return { exitCode: info.State.ExitCode, ms };
    },
  };
}

async function assertCleanStop(node: Node): Promise<void> {
  const { exitCode, ms } = await node.stop();
  assert.equal(exitCode, 0, `exit code after SIGTERM (137 = killed after the ${STOP_GRACE_MS} ms grace); logs:\n${node.logs().slice(-3000)}`);
  assert.ok(ms < STOP_GRACE_MS - 5_000, `the stop took ${ms} ms`);
  assert.match(node.logs(), /"signal":"SIGTERM".*"msg":"shutting down"/);
}

async function waitForStore(kms: KMSClient, id: string, wanted: 'CONNECTED'): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const entry = (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: id }))).CustomKeyStores?.[0];
    if (entry?.ConnectionState === wanted) return;
    if (entry?.ConnectionState === 'FAILED') assert.fail(`store ${id} FAILED (${entry.ConnectionErrorCode}) while waiting for ${wanted}`);
    if (Date.now() > deadline) assert.fail(`store ${id} is ${entry?.ConnectionState}, not ${wanted}, after 30 s`);
    await sleep(100);
  }
}

async function decrypts(kms: KMSClient, blob: Uint8Array, plaintext: Uint8Array, keyId: string): Promise<void> {
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob }));
  assert.deepEqual(Buffer.from(out.Plaintext!), Buffer.from(plaintext));
  assert.ok(out.KeyId!.endsWith(`:key/${keyId}`), `${out.KeyId} is key ${keyId}`);
}

/** Runs fn over items with `width` calls in flight. */
async function inParallel<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

// --- the tests ------------------------------------------------------------------------------------

describe('the keybridge container image', () => {
  const volume = newVolume();
  let node: Node;
  let kms: KMSClient;

  // What later tests prove survives.
  const remembered = {
    keys: [] as string[],
    ciphertexts: [] as Array<{ keyId: string; blob: Uint8Array; plaintext: Uint8Array }>,
    alias: 'alias/container-demo',
    aliasTarget: '',
    storeId: '',
    storeKeyId: '',
  };

  before(
    async () => {
      if (skip) return;
      const started = Date.now();
      const unique = `localhost/keybridge-build:${randomBytes(6).toString('hex')}`;
      await GenericContainer.fromDockerfile(ROOT, 'docker/Dockerfile').build(unique, { deleteOnExit: false });
      const docker = await dockerode();
      const built = await docker.getImage(unique).inspect();
      const previous = await docker.getImage(IMAGE).inspect().catch(() => undefined);
      await docker.getImage(unique).tag({ repo: IMAGE.split(':')[0]!, tag: IMAGE.split(':')[1]! });
      await docker.getImage(unique).remove({ noprune: true }); // the tag only: IMAGE still names the image
      if (previous && previous.Id !== built.Id) await docker.getImage(previous.Id).remove({ noprune: true }).catch(() => undefined);
      process.stderr.write(`container image built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      node = await startKeybridge(volume);
      kms = sdkClient(node);
    },
    { timeout: 20 * 60_000 },
  );

  after(async () => {
    if (skip) return;
    kms?.destroy();
    const docker = await dockerode().catch(() => undefined);
    // Stopped containers stay until here for the inspect checks; SIGTERM first for running ones.
    for (const { container } of containers) {
      await container.stop({ timeout: STOP_GRACE_MS, remove: false }).catch(() => undefined);
      await docker?.getContainer(container.getId()).remove({ force: true, v: true }).catch(() => undefined);
    }
    for (const name of volumes) await docker?.getVolume(name).remove().catch(() => undefined);
    for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  });

  test('the image: a non-root user, /data volume, health check on /readyz, SIGTERM as stop signal', { skip }, async () => {
    const docker = await dockerode();
    const image = await docker.getImage(IMAGE).inspect();
    const config = image.Config as typeof image.Config & { StopSignal?: string };
    assert.equal(config.User, 'keybridge');
    assert.ok(config.Volumes && '/data' in config.Volumes, 'VOLUME /data');
    assert.ok(config.ExposedPorts && '4599/tcp' in config.ExposedPorts, 'EXPOSE 4599');
    assert.equal(config.StopSignal, 'SIGTERM');
    assert.deepEqual(config.Entrypoint, ['node', '/app/dist/src/main.js']);
    // From the container: podman 4.3's Docker-API image inspect leaves Healthcheck out.
    const healthcheck = (await docker.getContainer(node.container.getId()).inspect()).Config.Healthcheck?.Test;
    assert.deepEqual(healthcheck, ['CMD', 'node', '/app/dist/docker/healthcheck.js']);
    assert.ok(config.Env?.includes('KEYBRIDGE_DATA_DIR=/data'));

    assert.equal((await node.exec(['id', '-u'])).trim(), '10001');
    // PID 1 is the server itself (node, so SIGTERM reaches main.ts), and it is not root either.
    const status = await node.exec(['cat', '/proc/1/status']);
    assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
    assert.match(await node.exec(['cat', '/proc/1/cmdline']), /^node\0\/app\/dist\/src\/main\.js/);

    // The health check passes against the running server and fails when nothing answers.
    await node.exec(healthcheck!.slice(1));
    const elsewhere = await node.container.exec(healthcheck!.slice(1), { env: { KEYBRIDGE_PORT: String(await freePort()) } });
    assert.equal(elsewhere.exitCode, 1, elsewhere.output);

    // The web console is in the image (dist/console-app) and served.
    const page = await fetch(`${node.url}/console/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>keybridge console<\/title>/);
  });

  test('keys, an alias, encrypt/decrypt and a data key with the JS SDK', { skip }, async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'container sdk key' }));
    const keyId = KeyMetadata!.KeyId!;
    remembered.keys.push(keyId);
    await kms.send(new CreateAliasCommand({ AliasName: remembered.alias, TargetKeyId: keyId }));
    remembered.aliasTarget = keyId;
    const plaintext = randomBytes(100);
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: remembered.alias, Plaintext: plaintext }));
    await decrypts(kms, CiphertextBlob!, plaintext, keyId);
    remembered.ciphertexts.push({ keyId, blob: CiphertextBlob!, plaintext });
    const dataKey = await kms.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
    await decrypts(kms, dataKey.CiphertextBlob!, dataKey.Plaintext!, keyId);
    remembered.ciphertexts.push({ keyId, blob: dataKey.CiphertextBlob!, plaintext: dataKey.Plaintext! });
  });

  test('the AWS CLI against the container', { skip: skip || awsCliMissing }, async () => {
    const created = await awsKms(node, ['create-key', '--description', 'container cli key']);
    assert.equal(created.code, 0, created.stderr);
    const keyId = created.json.KeyMetadata.KeyId as string;
    remembered.keys.push(keyId);
    const input = join(node.dataDir, 'plain.bin');
    const plaintext = randomBytes(64);
    writeFileSync(input, plaintext);
    const encrypted = await awsKms(node, ['encrypt', '--key-id', keyId, '--plaintext', `fileb://${input}`]);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    const blob = Buffer.from(encrypted.json.CiphertextBlob as string, 'base64');
    const blobFile = join(node.dataDir, 'cipher.bin');
    writeFileSync(blobFile, blob);
    const decrypted = await awsKms(node, ['decrypt', '--ciphertext-blob', `fileb://${blobFile}`]);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.deepEqual(Buffer.from(decrypted.json.Plaintext as string, 'base64'), plaintext);
    remembered.ciphertexts.push({ keyId, blob, plaintext });
    const aliases = await awsKms(node, ['list-aliases']);
    assert.ok((aliases.json.Aliases as Array<{ AliasName: string }>).some((a) => a.AliasName === remembered.alias));
  });

  test("a custom key store on the container's SoftHSM2 example cluster", { skip }, async () => {
    const password = (await node.exec(['cat', `/data/pins/${CLUSTER}.pin`])).trim();
    const { CustomKeyStoreId } = await kms.send(
      new CreateCustomKeyStoreCommand({ CustomKeyStoreName: 'container-store', CloudHsmClusterId: CLUSTER, TrustAnchorCertificate: TRUST_ANCHOR, KeyStorePassword: password }),
    );
    const storeId = CustomKeyStoreId!;
    remembered.storeId = storeId;
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    await waitForStore(kms, storeId, 'CONNECTED');

    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ CustomKeyStoreId: storeId, Origin: 'AWS_CLOUDHSM', Description: 'in the cluster' }));
    assert.equal(KeyMetadata!.CustomKeyStoreId, storeId);
    assert.equal(KeyMetadata!.CloudHsmClusterId, CLUSTER);
    const keyId = KeyMetadata!.KeyId!;
    remembered.storeKeyId = keyId;
    remembered.keys.push(keyId);
    const plaintext = randomBytes(48);
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: { purpose: 'container-test' } }));
    const out = await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { purpose: 'container-test' } }));
    assert.deepEqual(Buffer.from(out.Plaintext!), plaintext);

    // The operator CLI ships in the image and reads /data/credentials itself.
    const described = JSON.parse(await node.exec(['keybridge', '--endpoint-url', node.url, '--output', 'json', 'keystore', 'describe', '--id', storeId]));
    assert.equal(JSON.stringify(described).includes('CONNECTED'), true, JSON.stringify(described));
  });

  test('a new container on the same volume: every key, alias and ciphertext survives and the store reconnects by itself', { skip }, async () => {
    await assertCleanStop(node);
    kms.destroy();
    const before_ = node.credentials;
    node = await startKeybridge(volume);
    kms = sdkClient(node);
    assert.deepEqual(node.credentials, before_, 'the same operator credentials');
    assert.doesNotMatch(node.logs(), /initialised the embedded SoftHSM2 token/, 'nothing is re-initialised');

    for (const keyId of remembered.keys) {
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(KeyMetadata!.KeyState, 'Enabled', keyId);
    }
    const { Aliases } = await kms.send(new ListAliasesCommand({}));
    assert.equal(Aliases!.find((a) => a.AliasName === remembered.alias)?.TargetKeyId, remembered.aliasTarget);
    await waitForStore(kms, remembered.storeId, 'CONNECTED'); // no ConnectCustomKeyStore here
    for (const { keyId, blob, plaintext } of remembered.ciphertexts) await decrypts(kms, blob, plaintext, keyId);
    const plaintext = randomBytes(16);
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: remembered.storeKeyId, Plaintext: plaintext }));
    await decrypts(kms, CiphertextBlob!, plaintext, remembered.storeKeyId);
    const viaAlias = await kms.send(new EncryptCommand({ KeyId: remembered.alias, Plaintext: plaintext }));
    await decrypts(kms, viaAlias.CiphertextBlob!, plaintext, remembered.aliasTarget);
  });

  test('SIGTERM during concurrent CreateKey + Encrypt: every acknowledged key and ciphertext survives', { skip }, async () => {
    const ackedKeys: string[] = [];
    const ackedCiphertexts: Array<{ keyId: string; blob: Uint8Array; plaintext: Uint8Array }> = [];
    const failures = new Map<string, number>();
    const firstFailure = new Map<string, string>();
    let running = true;
    let inFlightAtStop = 0;
    let inFlight = 0;
    const load = kms;
    const worker = async (w: number) => {
      while (running) {
        try {
          inFlight++;
          const { KeyMetadata } = await load.send(new CreateKeyCommand({ Description: `load ${w}` })).finally(() => inFlight--);
          const keyId = KeyMetadata!.KeyId!;
          ackedKeys.push(keyId);
          const plaintext = randomBytes(32);
          inFlight++;
          const { CiphertextBlob } = await load.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext })).finally(() => inFlight--);
          ackedCiphertexts.push({ keyId, blob: CiphertextBlob!, plaintext });
        } catch (err) {
          const e = err as Error & { code?: string };
          const name = `${e.name || 'Error'}${e.code ? ` ${e.code}` : ''}`;
          if (!failures.has(name)) firstFailure.set(name, e.message.slice(0, 120));
          failures.set(name, (failures.get(name) ?? 0) + 1);
          await sleep(20);
        }
      }
    };
    const workers = Array.from({ length: 12 }, (_, w) => worker(w));
    const loadStarted = Date.now();
    while (ackedKeys.length < 40 && Date.now() - loadStarted < 30_000) await sleep(25);
    assert.ok(ackedKeys.length >= 40, `only ${ackedKeys.length} keys acknowledged under load before the stop`);
    inFlightAtStop = inFlight;
    await assertCleanStop(node);
    running = false;
    await Promise.all(workers);
    const stoppedAt = { keys: ackedKeys.length, ciphertexts: ackedCiphertexts.length };
    process.stderr.write(
      `SIGTERM under load: ${stoppedAt.keys} keys and ${stoppedAt.ciphertexts} ciphertexts acknowledged, ${inFlightAtStop} calls in flight at the signal, failures after it: ${JSON.stringify(Object.fromEntries(failures))} (${JSON.stringify(Object.fromEntries(firstFailure))})\n`,
    );
    assert.ok(inFlightAtStop > 0, 'calls were in flight when SIGTERM was sent');

    kms.destroy();
    node = await startKeybridge(volume);
    kms = sdkClient(node);
    await inParallel(ackedKeys, 8, async (keyId) => {
      const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(KeyMetadata!.KeyState, 'Enabled', keyId);
      // The key's HSM object exists too, not only its metadata.
      const plaintext = randomBytes(8);
      const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext }));
      await decrypts(kms, CiphertextBlob!, plaintext, keyId);
    });
    await inParallel(ackedCiphertexts, 8, ({ keyId, blob, plaintext }) => decrypts(kms, blob, plaintext, keyId));
  });

  test('a production-style container: mounted config file (embedded: false), PIN and credentials as secret files', { skip }, async () => {
    const secrets = scratchDir();
    const pin = randomBytes(18).toString('base64url');
    const pinFile = join(secrets, 'keybridge-pin');
    const credentialsFile = join(secrets, 'keybridge-credentials');
    const credentials = generateAccessKey();
    // Readable by uid 10001 in the container; the folder around them (mode 0700) keeps others out.
    writeFileSync(pinFile, `${pin}\n`, { mode: 0o444 });
    writeFileSync(credentialsFile, `[keybridge]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`, { mode: 0o444 });
    const prodVolume = newVolume();
    const hsmEnv = { SOFTHSM2_CONF: '/data/hsm/softhsm2.conf' };
    const pinMount = { source: pinFile, target: '/run/secrets/keybridge-pin', mode: 'ro' as const };

    // docker/compose.yml's `softhsm-init`: the stand-in for an HSM vendor's setup tool, run once.
    let initLogs = '';
    const init = await new GenericContainer(IMAGE)
      .withNetworkMode('none')
      .withEntrypoint(['sh', '/opt/keybridge/softhsm-token-init.sh'])
      .withEnvironment(hsmEnv)
      .withBindMounts([
        { source: prodVolume, target: '/data', mode: 'rw' },
        { source: join(ROOT, 'docker', 'softhsm-token-init.sh'), target: '/opt/keybridge/softhsm-token-init.sh', mode: 'ro' },
        pinMount,
      ])
      .withLogConsumer((stream) => stream.on('data', (chunk: Buffer | string) => (initLogs += chunk.toString())))
      .withWaitStrategy(Wait.forOneShotStartup())
      .start();
    containers.push({ container: init, logs: () => initLogs });

    // docker/compose.yml's `keybridge-prod`, with the repository's example config file.
    const prod = await startKeybridge(prodVolume, {
      env: { KEYBRIDGE_CONFIG: '/etc/keybridge/config.json', ...hsmEnv },
      mounts: [
        { source: join(ROOT, 'docker', 'examples', 'production.json'), target: '/etc/keybridge/config.json', mode: 'ro' },
        pinMount,
        { source: credentialsFile, target: '/run/secrets/keybridge-credentials', mode: 'ro' },
      ],
      credentials,
    });
    const client = sdkClient(prod);
    try {
      const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: 'production-style' }));
      const plaintext = randomBytes(32);
      const { CiphertextBlob } = await client.send(new EncryptCommand({ KeyId: KeyMetadata!.KeyId!, Plaintext: plaintext }));
      await decrypts(client, CiphertextBlob!, plaintext, KeyMetadata!.KeyId!);
      // Not the embedded default: no token, PIN files or credentials of its own in /data — only
      // the metadata store, the audit trail, its signing key's public half and the mounted HSM folder.
      const listing = (await prod.exec(['ls', '-A', '/data'])).split('\n').filter(Boolean).sort();
      assert.deepEqual(listing.filter((f) => !f.startsWith('keybridge.db') && !f.startsWith('audit.db')), ['audit-signing-key.pem', 'hsm']);
      assert.ok(listing.includes('audit.db'), 'the audit trail lives in /data');
      await prod.exec(['node', '/app/dist/docker/healthcheck.js'], { KEYBRIDGE_CONFIG: '/etc/keybridge/config.json' });

      const inspected = JSON.stringify(await (await dockerode()).getContainer(prod.container.getId()).inspect());
      for (const secret of [pin, credentials.secretAccessKey]) {
        assert.equal(inspected.includes(secret), false, 'a secret appears in the container inspect output');
        assert.equal(prod.logs().includes(secret) || initLogs.includes(secret), false, 'a secret appears in the logs');
      }
      await assertCleanStop(prod);
    } finally {
      client.destroy();
    }
  });

  test('no PIN or secret key appears in container or image inspect output or in any log', { skip }, async () => {
    const secrets = new Map<string, string>();
    for (const file of ['user.pin', 'so.pin', `${CLUSTER}.pin`, `${CLUSTER}-so.pin`]) {
      secrets.set(file, (await node.exec(['cat', `/data/pins/${file}`])).trim());
    }
    secrets.set('secret access key', node.credentials.secretAccessKey);
    for (const [name, value] of secrets) assert.ok(value.length >= 16, `${name} was read`);

    const docker = await dockerode();
    const documents = new Map<string, string>();
    documents.set('image inspect', JSON.stringify(await docker.getImage(IMAGE).inspect()));
    for (const [i, { container, logs }] of containers.entries()) {
      documents.set(`container ${i} inspect`, JSON.stringify(await docker.getContainer(container.getId()).inspect()));
      documents.set(`container ${i} logs`, logs());
    }
    assert.ok(containers.length >= 4, `${containers.length} containers checked`);
    for (const [doc, text] of documents) {
      for (const [name, value] of secrets) assert.equal(text.includes(value), false, `${name} appears in the ${doc}`);
    }
  });
});
