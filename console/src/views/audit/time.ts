// <input type="datetime-local"> speaks local wall-clock time without a zone ("2025-06-01T14:30"),
// LookupEvents epoch seconds: these convert between the two, and format event times for people.

const pad = (n: number) => String(n).padStart(2, '0');

export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * Epoch ms of a datetime-local value, built from its parts so it is read as local time whatever
 * the engine's Date.parse does with zone-less strings. `endOfMinute` makes a minute-precision end
 * include every event recorded within that minute (records carry whole seconds).
 */
export function fromLocalInput(value: string, endOfMinute = false): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const second = m[6] === undefined ? (endOfMinute ? 59 : 0) : Number(m[6]);
  return new Date(year, month - 1, day, hour, minute, second).getTime();
}

export function isoOf(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

export function localOf(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
