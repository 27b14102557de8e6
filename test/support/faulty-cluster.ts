// A custom key store on a two-member cluster of embedded SoftHSM2 tokens behind the fault-injecting
// module (members `a` and `b`, keybridge replication): the set-up the chaos scenario, the
// hung-member test and the hung-member benchmark rows share, and a server connected to one
// (startFaultyClusterServer) for the fault tests.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ConnectCustomKeyStoreCommand, CreateCustomKeyStoreCommand, DescribeCustomKeyStoresCommand, type KMSClient } from '@aws-sdk/client-kms';

import { buildFaultyPkcs11, FaultController, faultyEnv } from './faulty-pkcs11.js';
import { sdkClient } from './kms-client.js';
import { REPO_ROOT } from './repo-root.js';
import { makeDataDir, startServer, type TestServer } from './server.js';
import { until } from './until.js';

export interface FaultyCluster {
  readonly clusterId: string;
  /** Token labels of members a and b. */
  readonly memberA: string;
  readonly memberB: string;
  /** The member call deadline (health.callTimeoutMs). */
  readonly callTimeoutMs: number;
  /** The ceiling of the recovery backoff (health.maxRetryIntervalMs); keybridge's default when absent. */
  readonly maxRetryIntervalMs?: number;
}

/** Writes `<dataDir>/clusters/<file>.json` for `cluster`; returns the clusters directory. */
export function writeFaultyCluster(dataDir: string, modulePath: string, cluster: FaultyCluster, healthIntervalMs = 200): string {
  const clustersDir = join(dataDir, 'clusters');
  mkdirSync(clustersDir, { recursive: true });
  writeFileSync(
    join(clustersDir, `${cluster.clusterId}.json`),
    JSON.stringify({
      clusterId: cluster.clusterId,
      members: [
        { name: 'a', module: modulePath, tokenLabel: cluster.memberA, profile: 'softhsm2' },
        { name: 'b', module: modulePath, tokenLabel: cluster.memberB, profile: 'softhsm2' },
      ],
      minActiveMembersToConnect: 1,
      minActiveMembersForCreateKey: 1,
      embeddedSoftHsm: true,
      replication: 'keybridge',
      health: {
        intervalMs: healthIntervalMs,
        callTimeoutMs: cluster.callTimeoutMs,
        ...(cluster.maxRetryIntervalMs === undefined ? {} : { maxRetryIntervalMs: cluster.maxRetryIntervalMs }),
      },
    }),
  );
  return clustersDir;
}

/**
 * CreateCustomKeyStore for the cluster (the password keybridge generated into `<dataDir>/pins`,
 * the example CA), ConnectCustomKeyStore, and waits for CONNECTED. Returns the store id.
 */
export async function connectFaultyStore(kms: KMSClient, dataDir: string, repoRoot: string, clusterId: string, name: string): Promise<string> {
  const password = readFileSync(join(dataDir, 'pins', `${clusterId}.pin`), 'utf8').trim();
  const ca = readFileSync(join(repoRoot, 'hsm-config', 'clusters', 'example-softhsm-ca.pem'), 'utf8');
  const created = await kms.send(
    new CreateCustomKeyStoreCommand({ CustomKeyStoreName: name, CloudHsmClusterId: clusterId, TrustAnchorCertificate: ca, KeyStorePassword: password }),
  );
  const storeId = created.CustomKeyStoreId!;
  await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  const state = async () => (await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: storeId }))).CustomKeyStores?.[0]?.ConnectionState;
  await until(async () => (await state()) === 'CONNECTED', 30_000, `custom key store ${storeId} to be CONNECTED`, 20);
  return storeId;
}

export interface FaultyClusterServer {
  readonly server: TestServer;
  readonly kms: KMSClient;
  /** Drives the fault-injecting module every token of `cluster` is reached through. */
  readonly faults: FaultController;
  /** The connected custom key store on `cluster`. */
  readonly storeId: string;
}

/**
 * A server in this process with a custom key store on `cluster` (members behind the faulty module),
 * CONNECTED. `everyTokenFaulty`: the default key store's token is reached through the faulty module
 * too — one library for every token, as a re-initialisation test needs (two paths to one library
 * would finalize it beneath the other path).
 * WARNING: call before anything in this process loads the faulty module (it sets process.env).
 */
export async function startFaultyClusterServer(
  cluster: FaultyCluster,
  options: { readonly storeName: string; readonly everyTokenFaulty?: boolean; readonly settings?: Record<string, unknown> },
): Promise<FaultyClusterServer> {
  const dataDir = makeDataDir();
  const controlFile = join(dataDir, 'faults.conf');
  writeFileSync(controlFile, '');
  const modulePath = await buildFaultyPkcs11();
  Object.assign(process.env, faultyEnv(controlFile));
  const faults = new FaultController(controlFile);
  const clustersDir = writeFaultyCluster(dataDir, modulePath, cluster);
  const server = await startServer({
    dataDir,
    settings: { clustersDir, deletionSweepIntervalMs: 3_600_000, ...(options.everyTokenFaulty === true ? { softhsmModule: modulePath } : {}), ...options.settings },
  });
  const kms = sdkClient(server);
  const storeId = await connectFaultyStore(kms, dataDir, REPO_ROOT, cluster.clusterId, options.storeName);
  return { server, kms, faults, storeId };
}
