// Dates and small value lists as the key detail view shows them.

/** A date in UTC, to the second ("2024-05-01 12:34:56 UTC"), or a dash when absent. */
export function formatDate(date: Date | undefined): string {
  if (date === undefined || Number.isNaN(date.getTime())) return '—';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Follows KMS's Marker/NextMarker/Truncated pages to the end. */
export async function allPages<T>(page: (marker: string | undefined) => Promise<{ items: T[] | undefined; truncated?: boolean | undefined; next?: string | undefined }>): Promise<T[]> {
  const items: T[] = [];
  let marker: string | undefined;
  do {
    const got = await page(marker);
    items.push(...(got.items ?? []));
    marker = got.truncated ? got.next : undefined;
  } while (marker !== undefined);
  return items;
}
