// Keeps what a node holds in memory in step with the store: on a change of the given kinds (by this
// node or another on a shared database), or on `resync` (changes may have been missed), it runs the
// reload. Reloads run one at a time and coalesce: changes heard while one runs cause one more after it.

import type { Logger } from 'pino';
import type { ChangeFeed, StoreChange } from '../ports/store.js';

export function followChanges(
  feed: ChangeFeed,
  kinds: readonly Exclude<StoreChange, 'resync'>[],
  reload: () => Promise<void>,
  options: { readonly logger: Logger; readonly what: string },
): () => void {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = reload()
      .catch((err: unknown) => options.logger.error({ err }, `could not reload ${options.what} after a change in the store; the next change or resync tries again`))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return feed.subscribe((change) => {
    if (change === 'resync' || kinds.includes(change)) run();
  });
}
