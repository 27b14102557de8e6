// requestParameters and responseElements: the wire body (PascalCase) turned into what CloudTrail
// shows (camelCase, secrets left out, timestamps as AWS prints them in responseElements).

import {
  MAP_MEMBERS, RENAMED_REQUEST_MEMBERS, REQUEST_DEFAULTS, REQUEST_MEMBERS, RESPONSE_MEMBERS, SECRET_MEMBERS,
} from './operation-rules.js';

type Json = Record<string, unknown>;

/**
 * The request members CloudTrail records for `eventName`, or null when the operation is unknown
 * or nothing is left. `keyArn` fills Decrypt's keyId when the caller left it out, as AWS does.
 */
export function requestParameters(eventName: string, body: unknown, keyArn?: string): Json | null {
  // Own properties only: an event name comes from the caller's X-Amz-Target ("constructor", …).
  const allowed = own(REQUEST_MEMBERS, eventName);
  if (allowed === undefined) return null;
  const source: Json = { ...own(REQUEST_DEFAULTS, eventName), ...(isPlainObject(body) ? body : {}) };
  if (eventName === 'Decrypt' && source.KeyId === undefined && keyArn !== undefined) source.KeyId = keyArn;
  const out = pick(source, allowed, RENAMED_REQUEST_MEMBERS, false);
  return Object.keys(out).length > 0 ? out : null;
}

/** The response members CloudTrail records for a successful `eventName`, or null. */
export function responseElements(eventName: string, body: unknown): Json | null {
  const allowed = own(RESPONSE_MEMBERS, eventName);
  if (allowed === undefined || !isPlainObject(body)) return null;
  const out = pick(body, allowed, {}, true);
  return Object.keys(out).length > 0 ? out : null;
}

function own<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

function pick(source: Json, allowed: readonly string[], renames: Readonly<Record<string, string>>, response: boolean): Json {
  const out: Json = {};
  for (const member of allowed) {
    if (SECRET_MEMBERS.has(member)) continue;
    const value = source[member];
    if (value === undefined || value === null) continue;
    out[renames[member] ?? camel(member)] = convert(member, value, response);
  }
  return out;
}

/** Nested structures are camelCased too; secret members are dropped at every depth. */
function convert(member: string, value: unknown, response: boolean): unknown {
  if (MAP_MEMBERS.has(member)) return isPlainObject(value) ? { ...value } : value;
  if (Array.isArray(value)) return value.map((v) => convert(member, v, response));
  if (isPlainObject(value)) {
    const out: Json = {};
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_MEMBERS.has(k) || v === undefined) continue;
      out[camel(k)] = convert(k, v, response);
    }
    return out;
  }
  if (response && typeof value === 'number' && member.endsWith('Date')) return awsDateText(value);
  return value;
}

/** CloudTrail's camelCase is "lower-case the first letter": AWSAccountId → aWSAccountId. */
export function camel(name: string): string {
  return name.length === 0 ? name : name[0]!.toLowerCase() + name.slice(1);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Timestamps in KMS responseElements are text, e.g. "Aug 10, 2022, 10:38:27 PM" (UTC), not the
 * epoch seconds of the wire. Formatted by hand: Intl's en-US output changed to a narrow no-break
 * space before AM/PM in newer ICU versions.
 */
export function awsDateText(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const h = d.getUTCHours();
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}, ` +
    `${h % 12 === 0 ? 12 : h % 12}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`
  );
}

export function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}
