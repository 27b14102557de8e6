// keybridge cluster init: the security officer's setup step for `keybridge` replication. Installs
// the cluster's trusted wrapping key (CKA_TRUSTED, set only by the SO) on every member, so new
// backing keys can be copied between members wrapped under it and under nothing else.
//
// Runs beside the service, not through it: it loads each member's PKCS#11 library in this process
// and logs in as SO. The key's value lives only in this process's memory, only while it is written.

import { installClusterWrappingKey, wrappingKeyStatus } from '../hsm/pkcs11/cluster-wrapping-key.js';
import { UsageError } from './args.js';
import { clusterFromOptions, soPinFromOptions, wrappingKeyMembers } from './cluster-common.js';
import { type Command, req } from './command.js';

export const clusterInit: Command = {
  group: 'cluster',
  name: 'init',
  summary: 'Install the trusted wrapping key on every member of a cluster (security officer).',
  description:
    'For clusters with "replication": "keybridge" (HSMs that do not copy keys between themselves). Logs in to every ' +
    'member as security officer and installs one AES-256 wrapping key with CKA_TRUSTED=true; keybridge then copies each ' +
    'new backing key to the other members wrapped under it. Idempotent: when every member has the key, nothing changes. ' +
    'With --check, only reports which members have it. The SO PIN is read from --so-pin-file (for the embedded example ' +
    'cluster, <data-dir>/pins/<cluster-id>-so.pin is used when the option is absent). For SoftHSM2 tokens under the data ' +
    'directory, <data-dir>/softhsm2.conf is used unless SOFTHSM2_CONF is set.',
  options: [
    { name: 'cluster-id', kind: 'string', metavar: 'ID', required: true, description: 'The cluster (cluster-...), as in hsm-config/clusters.' },
    { name: 'so-pin-file', kind: 'string', metavar: 'FILE', description: 'File holding the members\' security-officer PIN.' },
    { name: 'clusters-dir', kind: 'string', metavar: 'DIR', description: 'Cluster definitions. Default: the installation\'s hsm-config/clusters.' },
    { name: 'replace', kind: 'flag', description: 'Install a new key on every member even if some have one (copies already made stay valid).' },
    { name: 'check', kind: 'flag', description: 'Only report which members have the wrapping key; exit 1 if any lacks it.' },
  ],
  validate(values) {
    if (values['check'] === true && values['replace'] === true) throw new UsageError('--check and --replace cannot be used together');
  },
  async run(ctx) {
    const clusterId = req(ctx.values, 'cluster-id');
    const cluster = clusterFromOptions(ctx, clusterId);
    if (cluster.replication !== 'keybridge') ctx.warn(`cluster ${clusterId} uses "replication": "${cluster.replication}"; the wrapping key is only used in "keybridge" mode`);
    const members = wrappingKeyMembers(cluster);

    if (ctx.values['check'] === true) {
      const status = await wrappingKeyStatus(members);
      ctx.out.print({
        json: { ClusterId: clusterId, Members: status.map((m) => ({ Name: m.member, WrappingKey: m.installed })) },
        table: { columns: ['Member', 'WrappingKey'], rows: status.map((m) => [m.member, m.installed ? 'installed' : 'missing']) },
      });
      return status.every((m) => m.installed) ? 0 : 1;
    }

    const soPin = soPinFromOptions(ctx, clusterId);
    const result = await installClusterWrappingKey(members, soPin, { replace: ctx.values['replace'] === true });
    ctx.out.print({
      json: { ClusterId: clusterId, Outcome: result.outcome, Members: result.members.map((m) => ({ Name: m.member, WrappingKey: m.installed })) },
      table: {
        lines: [
          result.outcome === 'installed' ? `${clusterId}: wrapping key installed on ${result.members.length} members` : `${clusterId}: every member already has the wrapping key; nothing changed`,
        ],
      },
    });
    return 0;
  },
};
