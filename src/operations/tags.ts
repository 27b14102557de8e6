// Tag rules shared by CreateKey and TagResource.

import { KmsError } from '../domain/errors.js';
import type { Tag } from '../ports/store.js';

/**
 * AWS reserves the `aws:` prefix and lets a repeated key in one request overwrite the earlier
 * value. Returns the tags with duplicates folded, last value winning.
 */
export function checkTags(tags: ReadonlyArray<{ TagKey: string; TagValue: string }>): Tag[] {
  const byKey = new Map<string, string>();
  for (const { TagKey, TagValue } of tags) {
    if (TagKey.toLowerCase().startsWith('aws:')) {
      throw new KmsError('TagException', `Tag key ${TagKey} uses the reserved prefix "aws:".`);
    }
    byKey.set(TagKey, TagValue);
  }
  return [...byKey].map(([key, value]) => ({ key, value }));
}
