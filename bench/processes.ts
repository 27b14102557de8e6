// Child processes the benchmark measures: keybridge itself (never in the load generator's
// process) and moto_server as the peer. Both listen on loopback only.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Service {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitFor(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become ready in ${timeoutMs} ms`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

export interface KeybridgeOptions {
  /** Extra node flags for the server child, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] (also BENCH_SERVER_NODE_OPTIONS). */
  readonly nodeArgs?: readonly string[];
  /** Extra environment for the server child (e.g. the faulty module's KEYBRIDGE_FAULTY_*). */
  readonly env?: Readonly<Record<string, string>>;
  /** Settings written to a configuration file (KEYBRIDGE_CONFIG) on top of the defaults. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** argv that runs a command in a token's environment (test/support/token-lab.ts LabToken.runPrefix). */
  readonly runPrefix?: readonly string[];
}

/**
 * keybridge on the embedded default (authorization and the audit trail on, as `npm start` runs
 * it). The returned dataDir holds what the server writes there, e.g. pins/.
 */
export async function startKeybridge(
  dist: string,
  options: KeybridgeOptions = {},
): Promise<Service & { dataDir: string; credentials: { accessKeyId: string; secretAccessKey: string } }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keybridge-bench-'));
  const port = await freePort();
  // Nothing of the caller's own keybridge settings: the defaults, plus what options say.
  const inherited: Record<string, string | undefined> = { ...process.env };
  delete inherited.KEYBRIDGE_CONFIG;
  delete inherited.KEYBRIDGE_LOG_LEVEL;
  const env: Record<string, string | undefined> = {
    ...inherited,
    KEYBRIDGE_DATA_DIR: dataDir,
    KEYBRIDGE_PORT: String(port),
    // The default log level (info: one line per request), to /dev/null, as `npm start` logs.
    ...options.env,
  };
  if (options.config !== undefined) {
    const file = join(dataDir, 'bench-config.json');
    writeFileSync(file, JSON.stringify(options.config));
    env.KEYBRIDGE_CONFIG = file;
  }
  const fromEnv = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(/\s+/u).filter((a) => a !== '');
  const argv = [process.execPath, ...fromEnv, ...(options.nodeArgs ?? []), join(dist, 'src/main.js')];
  const prefix = options.runPrefix ?? [];
  const child = spawn(prefix[0] ?? argv[0]!, [...prefix.slice(1), ...(prefix.length > 0 ? argv : argv.slice(1))], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`, child, 30_000);
  // Embedded: the server wrote its credentials file; otherwise the configuration names one.
  const credentialsFile = typeof options.config?.credentialsFile === 'string' ? options.config.credentialsFile : join(dataDir, 'credentials');
  const ini = readFileSync(credentialsFile, 'utf8');
  const accessKeyId = /aws_access_key_id\s*=\s*(\S+)/.exec(ini)![1]!;
  const secretAccessKey = /aws_secret_access_key\s*=\s*(\S+)/.exec(ini)![1]!;
  const stop = stopper(child);
  return {
    url,
    child,
    dataDir,
    credentials: { accessKeyId, secretAccessKey },
    stop: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * moto's KMS, when moto is installed in the machine's Python; undefined otherwise.
 *
 * Started as users run it: `python3 -m moto.server` already serves concurrently (Werkzeug's
 * run_simple with threaded=True; moto_server has no option for threads or processes), and
 * Werkzeug answers every request with `Connection: close`. So the peer row needs a client that
 * reconnects after each answer — bench/peer.ts, not autocannon, which keeps writing on the closed
 * connection and stalls (one answer per connection per run: the old ~13 req/s).
 */
export async function startMoto(): Promise<Service | undefined> {
  const port = await freePort();
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/moto-api/`, child, 20_000);
  } catch {
    child.kill('SIGKILL');
    return undefined;
  }
  return { url, child, stop: stopper(child) };
}
