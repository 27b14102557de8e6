// Opaque Limit/Marker pagination. A marker is the base64url of the last item's sort key, so a
// client cannot do anything with it but hand it back; anything else is InvalidMarkerException.

import { KmsError } from '../domain/errors.js';

export function encodeMarker(lastSortKey: string): string {
  return Buffer.from(`kb1:${lastSortKey}`, 'utf8').toString('base64url');
}

export function decodeMarker(marker: string | undefined): string | undefined {
  if (marker === undefined) return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(marker) ? Buffer.from(marker, 'base64url').toString('utf8') : '';
  if (!text.startsWith('kb1:') || text.length === 4) {
    throw new KmsError('InvalidMarkerException', 'The marker that specifies where pagination should next begin is not valid.');
  }
  return text.slice(4);
}

/**
 * Fetches one item more than asked to learn whether the listing is truncated, and answers with
 * AWS's `Truncated` / `NextMarker` pair.
 */
export function page<T>(items: T[], limit: number, sortKey: (item: T) => string): { items: T[]; Truncated: boolean; NextMarker?: string } {
  if (items.length <= limit) return { items, Truncated: false };
  const shown = items.slice(0, limit);
  return { items: shown, Truncated: true, NextMarker: encodeMarker(sortKey(shown[shown.length - 1]!)) };
}
