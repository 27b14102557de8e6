// The live health of a CONNECTED CloudHSM store's members (KeybridgeAdmin.DescribeKeyStoreHealth),
// polled every 2 s while shown: a member turning UNAVAILABLE and coming back is what an operator
// watches here. Root only; anyone else sees the AccessDeniedException in this panel alone.

import { ApiError } from '../../api/errors.js';
import { ErrorNote } from '../../components/ErrorNote.js';
import { useInterval, useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { clock } from './format.js';
import type { MemberHealth as Member, NodeHealth, StoreHealth } from './stores.js';

const REFRESH_MS = 2000;

export function MemberHealth({ storeId }: { storeId: string }) {
  const { admin } = useConsole();
  const health = useLoad(async () => ({ at: new Date(), health: await admin<StoreHealth>('DescribeKeyStoreHealth', { CustomKeyStoreId: storeId }) }), [storeId]);
  // A caller refused the operation stays refused: asking every 2 s again only fills the audit trail.
  const refused = health.error instanceof ApiError && health.error.errorName === 'AccessDeniedException';
  useInterval(() => {
    if (!health.loading && !refused) health.reload();
  }, REFRESH_MS);
  const data = health.data?.health;
  const nodes = data?.Nodes ?? [];

  return (
    <div class="member-health" data-testid={`health-${storeId}`}>
      <div class="heading">
        <h3>
          Members{data === undefined ? '' : ` — node ${data.Node}`}
          {data?.Replication ? <span class="muted"> ({data.Replication} replication)</span> : null}
        </h3>
        {health.data === undefined ? null : (
          <span class="muted" data-testid="health-updated">
            updated {clock(health.data.at)}
          </span>
        )}
      </div>
      <ErrorNote error={health.error} />
      {data === undefined ? (
        health.loading ? <p class="muted">Loading…</p> : null
      ) : data.Members.length === 0 ? (
        <p class="muted">No members reported: the store is {data.ConnectionState} on this node.</p>
      ) : (
        <MembersTable storeId={storeId} members={data.Members} />
      )}
      {nodes.length > 1 ? <NodesList storeId={storeId} nodes={nodes} /> : null}
    </div>
  );
}

function MembersTable({ storeId, members }: { storeId: string; members: readonly Member[] }) {
  return (
    <div class="table-wrap">
      <table data-testid={`members-${storeId}`}>
        <thead>
          <tr>
            <th>Member</th>
            <th>Token label</th>
            <th>State</th>
            <th>Reason</th>
            <th>Last check</th>
            <th>Sessions in use / idle / limit</th>
            <th>In flight</th>
            <th>Resets</th>
            <th>Next attempt</th>
          </tr>
        </thead>
        <tbody>
          {members.map((m) => (
            <tr data-member={m.Name}>
              <td>{m.Name}</td>
              <td class="mono">{m.TokenLabel}</td>
              <td>
                <span class={`state state-${m.State}`} data-testid="member-state" title={`since ${m.Since}`}>
                  {m.State}
                </span>
                <div class="muted small">since {clock(m.Since)}</div>
              </td>
              <td data-testid="member-reason">{m.Reason ?? <span class="muted">—</span>}</td>
              <td data-testid="member-last-check">
                {m.LastCheck === null ? (
                  <span class="muted">—</span>
                ) : (
                  <>
                    {clock(m.LastCheck.At)} <span class={m.LastCheck.Ok ? 'ok' : 'bad'}>{m.LastCheck.Ok ? 'ok' : 'failed'}</span>{' '}
                    <span class="muted">{m.LastCheck.LatencyMs} ms</span>
                  </>
                )}
              </td>
              <td data-testid="member-sessions">
                {m.Pool === null ? (
                  <span class="muted">—</span>
                ) : (
                  <>
                    {m.Pool.InUse} / {m.Pool.Idle} / {m.Pool.Limit}
                    {m.Pool.Waiting > 0 ? <span class="bad">, {m.Pool.Waiting} waiting</span> : <span class="muted">, 0 waiting</span>}
                  </>
                )}
              </td>
              <td data-testid="member-in-flight">{m.Outstanding}</td>
              <td data-testid="member-resets">{m.Resets}</td>
              <td data-testid="member-next-attempt">
                {m.NextAttempt === null ? (
                  <span class="muted">—</span>
                ) : (
                  <>
                    {clock(m.NextAttempt)} <span class="muted">(attempt {m.RecoveryAttempts + 1})</span>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Each node's own sessions to the cluster can disagree (a member unreachable from one node only). */
function NodesList({ storeId, nodes }: { storeId: string; nodes: readonly NodeHealth[] }) {
  return (
    <div data-testid={`nodes-${storeId}`}>
      <h4>Each node's view</h4>
      <ul class="node-views">
        {nodes.map((n) => (
          <li data-node={n.Node}>
            <span class="mono">{n.Node}</span> <span class="muted">({n.ConnectionState}, reported {clock(n.ReportedAt)})</span>:{' '}
            {n.Members.length === 0 ? (
              <span class="muted">no members</span>
            ) : (
              n.Members.map((m) => (
                <span class="node-member" data-member={m.Name}>
                  {m.Name} <span class={`state state-${m.State}`} data-testid="node-member-state">{m.State}</span>
                </span>
              ))
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
