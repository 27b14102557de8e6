// Reading PKCS#11 attribute values as pkcs11js returns them (raw bytes in the library's layout).

import { endianness } from 'node:os';

/** A CK_ULONG in host byte order: 8 bytes on LP64, 4 on Windows and 32-bit builds. */
export function ulong(value: Buffer | undefined): number | undefined {
  const le = endianness() === 'LE';
  if (value?.length === 8) return Number(le ? value.readBigUInt64LE() : value.readBigUInt64BE());
  if (value?.length === 4) return le ? value.readUInt32LE() : value.readUInt32BE();
  return undefined;
}

/** A CK_BBOOL attribute value. */
export function flag(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}
