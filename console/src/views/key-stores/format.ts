// Times as a person reads them at a glance, in the browser's own time zone.

const pad = (n: number) => String(n).padStart(2, '0');

/** hh:mm:ss, local time. */
export function clock(at: Date | string | number): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? String(at) : `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** yyyy-mm-dd hh:mm:ss, local time. */
export function dateTime(at: Date | string | number | undefined): string {
  if (at === undefined) return '—';
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;
}
