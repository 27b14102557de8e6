// The window's headline figures.

import { ms, percent, type Summary } from './metrics.js';

export function Totals({ total, minutes }: { total: Summary; minutes: number }) {
  return (
    <dl class="totals" data-testid="overview-totals" aria-label={`Totals over the last ${minutes} minutes`}>
      <div>
        <dt>Requests</dt>
        <dd data-testid="total-requests">{total.Requests.toLocaleString('en-US')}</dd>
      </div>
      <div>
        <dt>Errors</dt>
        <dd data-testid="total-errors" class={total.Errors > 0 ? 'has-errors' : ''}>
          {total.Errors.toLocaleString('en-US')}
        </dd>
      </div>
      <div>
        <dt>Error rate</dt>
        <dd data-testid="total-error-rate">{percent(total.Errors, total.Requests)}</dd>
      </div>
      <div>
        <dt>Average latency</dt>
        <dd data-testid="total-latency">{total.Requests === 0 ? '—' : ms(total.AverageLatencyMs)}</dd>
      </div>
    </dl>
  );
}
