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

/**
 * Nested structures are camelCased too; secret members are dropped at every depth.
 *
 * WARNING: iterative (an explicit work stack), never recursive: `value` is caller-supplied and may
 * be nested arbitrarily deep. Each work item converts one value and stores it in its parent, which
 * already exists; children are pushed in reverse so they are stored in source order (a later
 * member that camelCases to the same name overwrites an earlier one, and keys keep the order the
 * caller sent them in).
 */
function convert(member: string, value: unknown, response: boolean): unknown {
  const root: { value?: unknown } = {};
  const work: { member: string; value: unknown; parent: Json | unknown[]; key: string | number }[] = [
    { member, value, parent: root as Json, key: 'value' },
  ];
  while (work.length > 0) {
    const item = work.pop()!;
    const v = item.value;
    let converted: unknown;
    if (MAP_MEMBERS.has(item.member)) {
      converted = isPlainObject(v) ? { ...v } : v;
    } else if (Array.isArray(v)) {
      // new Array(length) keeps holes as holes, as Array.prototype.map did.
      const out: unknown[] = new Array(v.length);
      for (let i = v.length - 1; i >= 0; i--) if (i in v) work.push({ member: item.member, value: v[i], parent: out, key: i });
      converted = out;
    } else if (isPlainObject(v)) {
      const out: Json = {};
      const children: { member: string; value: unknown; parent: Json; key: string }[] = [];
      for (const [k, child] of Object.entries(v)) {
        if (SECRET_MEMBERS.has(k) || child === undefined) continue;
        // Placeholder now, so the key takes its place in the order the caller sent.
        if (!Object.hasOwn(out, camel(k))) out[camel(k)] = undefined;
        children.push({ member: k, value: child, parent: out, key: camel(k) });
      }
      for (let i = children.length - 1; i >= 0; i--) work.push(children[i]!);
      converted = out;
    } else if (response && typeof v === 'number' && item.member.endsWith('Date')) {
      converted = awsDateText(v);
    } else {
      converted = v;
    }
    (item.parent as Record<string | number, unknown>)[item.key] = converted;
  }
  return root.value;
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
