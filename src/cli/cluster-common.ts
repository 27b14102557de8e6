// What the `keybridge cluster` commands share: the cluster's definition and members as the SO's
// ceremonies address them, SoftHSM2's configuration for embedded tokens, and the SO PIN.

import { existsSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';

import { defaultHsmConfigDir, loadClusters, type LoadedCluster } from '../config/clusters.js';
import { readSecret } from '../config/secrets.js';
import type { WrappingKeyMember } from '../hsm/pkcs11/cluster-wrapping-key.js';
import { UsageError } from './args.js';
import { type CommandContext, str } from './command.js';

/** The cluster named by --cluster-id in --clusters-dir (or the installation's hsm-config/clusters). */
export function clusterFromOptions(ctx: CommandContext, clusterId: string): LoadedCluster {
  // SoftHSM2 tokens under the data directory (the embedded example) are found through its config.
  const softhsmConf = join(ctx.dataDir(), 'softhsm2.conf');
  if (process.env.SOFTHSM2_CONF === undefined && existsSync(softhsmConf)) process.env.SOFTHSM2_CONF = softhsmConf;
  const clustersDir = str(ctx.values, 'clusters-dir') ?? defaultHsmConfigDir('clusters');
  const cluster = loadClusters(clustersDir, defaultHsmConfigDir('profiles')).get(clusterId);
  if (cluster === undefined) throw new UsageError(`no cluster ${clusterId} in ${clustersDir}`);
  return cluster;
}

export function wrappingKeyMembers(cluster: LoadedCluster): WrappingKeyMember[] {
  return cluster.members.map((m) => ({
    name: m.name,
    modulePath: m.module,
    tokenLabel: m.tokenLabel,
    ...(m.tokenSerial === undefined ? {} : { tokenSerial: m.tokenSerial }),
  }));
}

/** --so-pin-file, else <data-dir>/pins/<cluster-id>-so.pin (the embedded example cluster's). */
export function soPinFromOptions(ctx: CommandContext, clusterId: string): string {
  const pinFile = str(ctx.values, 'so-pin-file') ?? join(ctx.dataDir(), 'pins', `${clusterId}-so.pin`);
  if (!existsSync(pinFile)) throw new UsageError(`SO PIN file ${pinFile} not found; give --so-pin-file`);
  return readSecret({ file: resolvePath(pinFile) });
}
