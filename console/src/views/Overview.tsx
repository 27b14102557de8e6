// Overview: what this keybridge process served in the last minutes (KeybridgeAdmin.
// DescribeRequestMetrics, root only), refreshed every 10 s: totals, charts per period, and the
// figures per operation and per key store.

import { useState } from 'preact/hooks';

import { ErrorNote } from '../components/ErrorNote.js';
import { useInterval, useLoad } from '../components/hooks.js';
import { useConsole } from '../context.js';
import { Charts } from './overview/Charts.js';
import { operations, type RequestMetrics, stores, totals } from './overview/metrics.js';
import { MetricsTable } from './overview/MetricsTables.js';
import './overview/Overview.css';
import { Totals } from './overview/Totals.js';

const REFRESH_MS = 10_000;
const WINDOWS = [5, 15] as const;

const pad = (n: number) => String(n).padStart(2, '0');
const clock = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;

export function Overview() {
  const { admin } = useConsole();
  const [minutes, setMinutes] = useState<number>(15);
  const metrics = useLoad(async () => ({ at: new Date(), metrics: await admin<RequestMetrics>('DescribeRequestMetrics', { Minutes: minutes }) }), [minutes]);
  useInterval(() => {
    if (!metrics.loading) metrics.reload();
  }, REFRESH_MS);
  const data = metrics.data?.metrics;
  const ops = data === undefined ? [] : operations(data);
  const byStore = data === undefined ? [] : stores(data);

  return (
    <section class="overview">
      <div class="heading">
        <h1>Overview</h1>
        <div class="toolbar">
          <label>
            Window
            <select name="window" value={String(minutes)} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
              {WINDOWS.map((w) => (
                <option value={String(w)}>Last {w} minutes</option>
              ))}
            </select>
          </label>
          <button type="button" onClick={metrics.reload} disabled={metrics.loading}>
            Refresh
          </button>
        </div>
      </div>
      {metrics.data === undefined ? null : (
        <p class="muted" data-testid="overview-updated">
          Requests this process (node <span class="mono">{metrics.data.metrics.Node}</span>) answered, in {metrics.data.metrics.PeriodSeconds}-second periods; updated{' '}
          {clock(metrics.data.at)}, every {REFRESH_MS / 1000} s.
        </p>
      )}
      <ErrorNote error={metrics.error} />
      {data === undefined ? (
        metrics.loading ? <p class="muted">Loading…</p> : null
      ) : (
        <>
          <Totals total={totals(data)} minutes={minutes} />
          <Charts metrics={data} operations={ops} stores={byStore} minutes={minutes} />
          <h2>By operation</h2>
          <MetricsTable testId="operations-table" rows={ops} nameHeader="Operation" rowAttr="data-operation" />
          <h2>By key store</h2>
          <MetricsTable testId="stores-metrics-table" rows={byStore} nameHeader="Key store" rowAttr="data-store" />
        </>
      )}
    </section>
  );
}
