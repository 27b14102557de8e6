// `keybridge --workers N` (src/workers.ts) when a worker dies: the supervisor forks a replacement,
// and clients keep being served. A killed worker's connections are reset and the SDK retries them
// on a live worker; that includes a connection the primary had handed to the worker just before it
// died, which node:cluster alone would hold open forever, unanswered (resetUntakenConnections in
// src/workers.ts). The test makes that case certain instead of a race: the worker is stopped
// (SIGSTOP, as a worker stuck in a long call would be), a new connection is handed to it, and only
// then is it killed.
//
// Every call has a deadline (an abort signal, which the SDK does not retry): a hang fails the test
// instead of stalling it. Which process holds a connection is read from /proc.
//
// Skips only when PostgreSQL's server is not installed, and not under CI=true.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { startChildKeybridge, type ChildKeybridge } from '../support/keybridge-child.js';
import { childrenOf } from '../support/child-pids.js';
import { createTestDatabase, postgresLabMissing, postgresStoreConfig, sharedPostgresLab, type TestDatabase } from '../support/postgres-lab.js';
import { makeDataDir } from '../support/server.js';
import { until } from '../support/until.js';

const missing = process.env.CI === 'true' ? undefined : postgresLabMissing();

/** One call, its retries included; far above a call's few milliseconds, far below the test's timeout. */
const CALL_DEADLINE_MS = 15_000;

/** Which of `pids` holds the server side of the TCP connection 127.0.0.1:clientPort → 127.0.0.1:serverPort. */
function holderOf(serverPort: number, clientPort: number, pids: readonly number[]): number | undefined {
  const hexPort = (port: number): string => `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  // /proc/net/tcp: sl local_address rem_address st … inode (10th field); "0100007F:1F90" is 127.0.0.1:8080.
  const row = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(hexPort(serverPort)) && f[2]?.endsWith(hexPort(clientPort)));
  if (row === undefined || row[9] === '0') return undefined;
  const socket = `socket:[${row[9]}]`;
  return pids.find((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === socket;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
}

describe('--workers on PostgreSQL: a worker that dies', { skip: missing ?? false }, () => {
  let db: TestDatabase;
  let dataDir: string;
  let node: ChildKeybridge;
  let kms: KMSClient;
  let serverPort: number;

  /** An SDK client with the SDK's own retries (3 attempts, its default), on `httpAgent` if given. */
  function client(httpAgent?: Agent): KMSClient {
    return new KMSClient({
      region: node.region,
      endpoint: node.url,
      maxAttempts: 3,
      credentials: node.credentials,
      ...(httpAgent ? { requestHandler: { httpAgent } } : {}),
    });
  }

  /** Encrypt and Decrypt under `keyId`, and Decrypt `ciphertext` (of `plaintext`), each within the deadline; the SDK attempts they took. */
  async function roundTrip(on: KMSClient, keyId: string, ciphertext: Uint8Array, plaintext: string): Promise<number> {
    const abortSignal = AbortSignal.timeout(CALL_DEADLINE_MS);
    const text = `round trip ${Math.random()}`;
    const encrypted = await on.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text) }), { abortSignal });
    const decrypted = await on.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob }), { abortSignal });
    assert.equal(Buffer.from(decrypted.Plaintext!).toString(), text);
    const earlier = await on.send(new DecryptCommand({ CiphertextBlob: ciphertext }), { abortSignal });
    assert.equal(Buffer.from(earlier.Plaintext!).toString(), plaintext);
    return encrypted.$metadata.attempts! + decrypted.$metadata.attempts! + earlier.$metadata.attempts!;
  }

  /** An SDK client with one connection of its own, and which of some processes holds that connection's server side. */
  function ownConnection(): { kms: KMSClient; heldBy(pids: readonly number[]): number | undefined; destroy(): void } {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const own = client(agent);
    return {
      kms: own,
      heldBy(pids) {
        const socket = [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].flat()[0] as Socket | undefined;
        return socket?.localPort === undefined ? undefined : holderOf(serverPort, socket.localPort, pids);
      },
      destroy() {
        own.destroy();
        agent.destroy();
      },
    };
  }

  /** Waits until each of `pids` has served a round trip on a new connection (node:cluster hands new connections out in turn). */
  async function untilEachServes(pids: readonly number[], keyId: string, ciphertext: Uint8Array, plaintext: string): Promise<void> {
    const served = new Set<number>();
    await until(
      async () => {
        const own = ownConnection();
        try {
          await roundTrip(own.kms, keyId, ciphertext, plaintext);
          const by = own.heldBy(pids);
          if (by !== undefined) served.add(by);
        } finally {
          own.destroy();
        }
        return pids.every((pid) => served.has(pid));
      },
      60_000,
      `round trips served by each of the workers ${pids.join(', ')}`,
      50,
    );
  }

  before(
    async () => {
      db = await createTestDatabase();
      const lab = await sharedPostgresLab();
      dataDir = makeDataDir();
      node = await startChildKeybridge(dataDir, { store: postgresStoreConfig(lab, db) }, undefined, { args: ['--workers', '2'] });
      serverPort = Number(new URL(node.url).port);
      kms = client();
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      kms?.destroy();
      await node?.stop();
      await db?.drop();
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  test('SIGKILL one worker: every call still succeeds, a replacement is forked, and it and the survivor both serve', { timeout: 180_000 }, async (t) => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}), { abortSignal: AbortSignal.timeout(CALL_DEADLINE_MS) });
    const keyId = KeyMetadata!.KeyId!;
    const plaintext = 'written before the kill';
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext) }), { abortSignal: AbortSignal.timeout(CALL_DEADLINE_MS) });
    const ciphertext = CiphertextBlob!;

    // Both workers listening and serving (the second starts after the first has), and the shared
    // client holding pooled connections to both.
    await until(() => childrenOf(node.child.pid!).length === 2, 30_000, 'two worker processes');
    const workers = childrenOf(node.child.pid!);
    const [victim, survivor] = workers as [number, number];
    await untilEachServes(workers, keyId, ciphertext, plaintext);
    await Promise.all(Array.from({ length: 8 }, () => roundTrip(kms, keyId, ciphertext, plaintext)));

    // The victim stops, idle. Calls on the shared client's pooled connections to it wait unread;
    // of four new connections, round-robin hands one to it (which never takes it) and the others,
    // in turn, to the survivor, which serves them.
    process.kill(victim, 'SIGSTOP');
    const pooled = Array.from({ length: 8 }, () => roundTrip(kms, keyId, ciphertext, plaintext));
    const fresh = Array.from({ length: 4 }, () => {
      const own = ownConnection();
      const call = { own, settled: false, done: roundTrip(own.kms, keyId, ciphertext, plaintext) };
      call.done = call.done.finally(() => (call.settled = true));
      return call;
    });
    // Awaited below; a failure meanwhile is not an unhandled rejection.
    for (const call of [...pooled, ...fresh.map((c) => c.done)]) call.catch(() => undefined);
    await until(() => fresh.filter((c) => c.settled).length === 3, 30_000, 'the survivor serving three new connections');
    const stuck = fresh.filter((c) => !c.settled);
    assert.equal(stuck.length, 1);
    assert.equal(stuck[0]!.own.heldBy([node.child.pid!, survivor]), node.child.pid, 'the waiting connection is held by the primary, handed to the stopped worker');

    process.kill(victim, 'SIGKILL');
    // Calls through the shared client, one after another, from the kill to the end.
    let calls = 0;
    let failure: unknown;
    let stop = false;
    const steady = (async () => {
      while (!stop) {
        try {
          await roundTrip(kms, keyId, ciphertext, plaintext);
          calls += 1;
        } catch (err) {
          failure = err;
          return;
        }
      }
    })();
    const noFailure = (): void => {
      if (failure !== undefined) throw failure;
    };

    // The stuck connection is reset once the worker is gone, and its call retried: 3 calls, more attempts.
    const stuckAttempts = await stuck[0]!.done;
    assert.ok(stuckAttempts > 3, `the call on the connection handed to the killed worker was retried (${stuckAttempts} attempts)`);
    const pooledAttempts = await Promise.all(pooled);
    await Promise.all(fresh.map((c) => c.done));
    for (const c of fresh) c.own.destroy();
    t.diagnostic(`SDK attempts (3 calls each): the stuck new connection ${stuckAttempts}; the pooled ones ${pooledAttempts.join(', ')}`);

    await until(
      () => {
        noFailure();
        const now = childrenOf(node.child.pid!);
        return now.length === 2 && now.includes(survivor) && !now.includes(victim);
      },
      30_000,
      'a replacement worker process',
    );
    const replacement = childrenOf(node.child.pid!).find((pid) => pid !== survivor)!;

    await untilEachServes([survivor, replacement], keyId, ciphertext, plaintext);
    stop = true;
    await steady;
    noFailure();
    assert.ok(calls > 0, 'the shared client made round trips after the kill');
    assert.equal(node.child.exitCode, null, 'the primary still runs');
    t.diagnostic(`${calls} round trips on the shared client after the kill; killed ${victim}, survivor ${survivor}, replacement ${replacement}`);
  });

  test('SIGKILL every worker at once: the primary stays and forks new ones, which serve', { timeout: 180_000 }, async () => {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({}), { abortSignal: AbortSignal.timeout(CALL_DEADLINE_MS) });
    const keyId = KeyMetadata!.KeyId!;
    const plaintext = 'written before every worker died';
    const { CiphertextBlob } = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(plaintext) }), { abortSignal: AbortSignal.timeout(CALL_DEADLINE_MS) });

    await until(() => childrenOf(node.child.pid!).length === 2, 30_000, 'two worker processes');
    const workers = childrenOf(node.child.pid!);
    for (const pid of workers) process.kill(pid, 'SIGKILL');

    await until(
      () => {
        assert.equal(node.child.exitCode, null, `the primary exited while no worker ran:\n${node.stderr()}`);
        const now = childrenOf(node.child.pid!);
        return now.length === 2 && now.every((pid) => !workers.includes(pid));
      },
      30_000,
      'two new worker processes',
    );
    // Until a new worker listens, nothing does: connections are refused, as they should be.
    await until(async () => (await fetch(`${node.url}/readyz`).catch(() => undefined))?.status === 200, 30_000, 'a new worker serving /readyz', 50);
    await untilEachServes(childrenOf(node.child.pid!), keyId, CiphertextBlob!, plaintext);
    assert.equal(node.child.exitCode, null, 'the primary still runs');
  });
});
