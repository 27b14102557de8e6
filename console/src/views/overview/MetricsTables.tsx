// The window's figures per operation and per key store, busiest first.

import { ms, percent, type Summary } from './metrics.js';

export function MetricsTable({ testId, rows, nameHeader, rowAttr }: { testId: string; rows: readonly Summary[]; nameHeader: string; rowAttr: 'data-operation' | 'data-store' }) {
  return (
    <div class="table-wrap">
      <table data-testid={testId}>
        <thead>
          <tr>
            <th>{nameHeader}</th>
            <th class="num">Requests</th>
            <th class="num">Errors</th>
            <th class="num">Error rate</th>
            <th class="num">Avg latency</th>
            <th class="num">Max latency</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr {...{ [rowAttr]: r.name }}>
              <td class="mono">{r.name}</td>
              <td class="num" data-testid="requests">
                {r.Requests}
              </td>
              <td class={`num${r.Errors > 0 ? ' has-errors' : ''}`} data-testid="errors">
                {r.Errors}
              </td>
              <td class="num">{percent(r.Errors, r.Requests)}</td>
              <td class="num" data-testid="avg-latency">
                {ms(r.AverageLatencyMs)}
              </td>
              <td class="num" data-testid="max-latency">
                {ms(r.MaxLatencyMs)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 ? <p class="muted empty">No requests in this window.</p> : null}
    </div>
  );
}
