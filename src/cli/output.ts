// Output formats: `table` (aligned columns for people) and `json` (one document for scripts).
// Dates print as ISO 8601 UTC in both; the SDK's $metadata is never printed.

export type OutputFormat = 'table' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json'];

export type Cell = string | number | boolean | Date | null | undefined;

export interface Printable {
  /** What `--output json` prints. */
  readonly json: unknown;
  /** What `--output table` prints: a table, or plain lines. */
  readonly table:
    | { readonly title?: string; readonly columns: readonly string[]; readonly rows: readonly (readonly Cell[])[] }
    | { readonly lines: readonly string[] };
}

export class Printer {
  constructor(
    readonly format: OutputFormat,
    private readonly write: (text: string) => void,
  ) {}

  print(p: Printable): void {
    if (this.format === 'json') {
      this.write(`${renderJson(p.json)}\n`);
    } else if ('lines' in p.table) {
      for (const line of p.table.lines) this.write(`${line}\n`);
    } else {
      if (p.table.title !== undefined) this.write(`${p.table.title}\n`);
      this.write(renderTable(p.table.columns, p.table.rows));
    }
  }
}

export function renderJson(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === '$metadata' ? undefined : v), 2);
}

/** Header, then one line per row; columns separated by two spaces; empty cells as `-`. */
export function renderTable(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = [columns.slice(), ...rows.map((row) => columns.map((_, i) => cellText(row[i])))];
  const widths = columns.map((_, i) => Math.max(...text.map((r) => r[i]!.length)));
  return text
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

export function cellText(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-';
  if (cell instanceof Date) return isoSeconds(cell);
  // Control characters (newlines in a description, terminal escapes) would break the columns.
  return String(cell).replace(/\p{Cc}/gu, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : '?'));
}

/** 2025-01-02T03:04:05Z */
export function isoSeconds(date: Date): string {
  return Number.isNaN(date.getTime()) ? String(date) : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
