// IPv4 and IPv6 addresses and CIDR ranges for IpAddress/NotIpAddress. "203.0.113.0/24",
// "2001:DB8:1234:5678::/64"; an address without a prefix is /32 (or /128). An IPv4 address never
// matches an IPv6 range or the reverse.

export interface Cidr {
  readonly v6: boolean;
  readonly bits: bigint;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!address) return undefined;
  const width = address.v6 ? 128 : 32;
  let prefix = width;
  if (slash >= 0) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > width) return undefined;
  }
  return { v6: address.v6, bits: address.bits, prefix };
}

export function cidrContains(range: Cidr, ip: string): boolean {
  const address = parseIp(ip);
  if (!address || address.v6 !== range.v6) return false;
  const width = range.v6 ? 128 : 32;
  const shift = BigInt(width - range.prefix);
  return address.bits >> shift === range.bits >> shift;
}

export function parseIp(text: string): { v6: boolean; bits: bigint } | undefined {
  if (text.includes(':')) {
    const bits = parseIpv6(text);
    return bits === undefined ? undefined : { v6: true, bits };
  }
  const bits = parseIpv4(text);
  return bits === undefined ? undefined : { v6: false, bits };
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let bits = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bits = (bits << 8n) | BigInt(n);
  }
  return bits;
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes('.')) {
        // An embedded IPv4 tail (::ffff:192.0.2.1) is two groups.
        const v4 = parseIpv4(part);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let bits = 0n;
  for (const g of [...head, ...new Array<number>(missing).fill(0), ...tail]) bits = (bits << 16n) | BigInt(g);
  return bits;
}
