// A tiny SVG chart: counts as bars (drawn over each other from the baseline, so errors show inside
// requests) on the left scale, and optionally one line (latency) on its own right scale. No chart
// library: a few rects and polylines in a viewBox, which the CSP allows and which scales with the page.

import type { ComponentChildren } from 'preact';

export interface BarSeries {
  readonly label: string;
  readonly values: readonly number[];
  /** CSS class of the bars and the legend swatch, e.g. "requests" → .bar-requests, .swatch-requests. */
  readonly kind: string;
}

export interface LineSeries {
  readonly label: string;
  /** null where there is nothing to average (no requests): the line breaks there. */
  readonly values: ReadonlyArray<number | null>;
  readonly kind: string;
  readonly format: (v: number) => string;
  /** A shorter form for the axis labels; `format` when absent. */
  readonly axis?: (v: number) => string;
}

export interface ChartProps {
  readonly testId: string;
  readonly caption: ComponentChildren;
  /** What the chart says, for a screen reader (the <title>). */
  readonly summary: string;
  /** Start of each period, epoch seconds; the bars and the line have one value per period. */
  readonly times: readonly number[];
  readonly periodSeconds: number;
  readonly bars?: readonly BarSeries[];
  readonly line?: LineSeries;
}

const W = 320;
const H = 140;
const TOP = 8;
const BOTTOM = 18;
const LEFT = 38;

export function Chart({ testId, caption, summary, times, periodSeconds, bars = [], line }: ChartProps) {
  const right = line !== undefined && bars.length > 0 ? 38 : 8;
  // A line alone uses the left axis.
  const lineOnLeft = line !== undefined && bars.length === 0;
  const plotW = W - LEFT - right;
  const plotH = H - TOP - BOTTOM;
  const n = Math.max(times.length, 1);
  const step = plotW / n;
  const barMax = niceMax(Math.max(0, ...bars.flatMap((b) => b.values)));
  const lineMax = niceMax(Math.max(0, ...(line?.values.filter((v): v is number => v !== null) ?? [])));
  const y = (v: number, max: number) => TOP + plotH - (v / max) * plotH;
  const x = (i: number) => LEFT + i * step;
  const titleId = `${testId}-title`;
  const first = times[0];
  const last = times[times.length - 1];

  return (
    <figure class="chart" data-testid={testId}>
      <figcaption>
        <span class="chart-caption">{caption}</span>
        <span class="legend">
          {bars.map((b) => (
            <span class="legend-item">
              <span class={`swatch swatch-${b.kind}`} aria-hidden="true" />
              {b.label}
            </span>
          ))}
          {line === undefined ? null : (
            <span class="legend-item">
              <span class={`swatch swatch-${line.kind}`} aria-hidden="true" />
              {line.label}
              {bars.length > 0 ? ' (right axis)' : ''}
            </span>
          )}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={titleId} preserveAspectRatio="xMidYMid meet">
        <title id={titleId}>{summary}</title>
        {[0, 0.5, 1].map((f) => (
          <line class="grid" x1={LEFT} x2={W - right} y1={TOP + plotH * (1 - f)} y2={TOP + plotH * (1 - f)} />
        ))}
        {bars.length > 0 || lineOnLeft
          ? [0, 0.5, 1].map((f) => (
              // A count axis labels whole numbers only (no "0.5 requests").
              lineOnLeft || Number.isInteger(barMax * f) ? (
                <text class="axis-label" x={LEFT - 4} y={TOP + plotH * (1 - f) + 3} text-anchor="end">
                  {lineOnLeft ? (line!.axis ?? line!.format)(lineMax * f) : count(barMax * f)}
                </text>
              ) : null
            ))
          : null}
        {line !== undefined && !lineOnLeft
          ? [0, 0.5, 1].map((f) => (
              <text class="axis-label" x={W - right + 4} y={TOP + plotH * (1 - f) + 3} text-anchor="start">
                {(line.axis ?? line.format)(lineMax * f)}
              </text>
            ))
          : null}
        {bars.map((b) =>
          b.values.map((v, i) =>
            v > 0 ? <rect class={`bar bar-${b.kind}`} x={x(i) + step * 0.1} width={Math.max(step * 0.8, 0.5)} y={y(v, barMax)} height={TOP + plotH - y(v, barMax)} /> : null,
          ),
        )}
        {line === undefined
          ? null
          : segments(line.values).map((seg) => (
              <polyline
                class={`line line-${line.kind}`}
                points={
                  seg.length === 1
                    ? `${x(seg[0]!.i) + step * 0.1},${y(seg[0]!.v, lineMax)} ${x(seg[0]!.i) + step * 0.9},${y(seg[0]!.v, lineMax)}`
                    : seg.map(({ i, v }) => `${x(i) + step / 2},${y(v, lineMax)}`).join(' ')
                }
              />
            ))}
        <line class="axis" x1={LEFT} x2={W - right} y1={TOP + plotH} y2={TOP + plotH} />
        {first === undefined || last === undefined ? null : (
          <>
            <text class="axis-label" x={LEFT} y={H - 4} text-anchor="start">
              {hhmm(first)}
            </text>
            <text class="axis-label" x={W - right} y={H - 4} text-anchor="end">
              {hhmm(last + periodSeconds)}
            </text>
          </>
        )}
        {/* One hover target per period: its time and every series' value, as a tooltip. */}
        {times.map((t, i) => (
          <rect class="hover" x={x(i)} width={step} y={TOP} height={plotH}>
            <title>
              {hhmmss(t)}
              {bars.map((b) => ` · ${b.label}: ${b.values[i] ?? 0}`).join('')}
              {line === undefined ? '' : ` · ${line.label}: ${line.values[i] === null || line.values[i] === undefined ? '—' : line.format(line.values[i]!)}`}
            </title>
          </rect>
        ))}
      </svg>
    </figure>
  );
}

/** Runs of consecutive non-null values. */
function segments(values: ReadonlyArray<number | null>): Array<Array<{ i: number; v: number }>> {
  const out: Array<Array<{ i: number; v: number }>> = [];
  let current: Array<{ i: number; v: number }> = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length > 0) out.push(current);
      current = [];
    } else current.push({ i, v });
  });
  if (current.length > 0) out.push(current);
  return out;
}

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above v (at least 1), so the axis reads round numbers. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= v) return m * magnitude;
  return 10 * magnitude;
}

function count(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k` : Number.isInteger(v) ? String(v) : v.toFixed(1);
}

const pad = (n: number) => String(n).padStart(2, '0');
function hhmm(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function hhmmss(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return `${hhmm(epochSeconds)}:${pad(d.getSeconds())}`;
}
