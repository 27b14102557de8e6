// The listener registry behind both stores' change feeds. SQLite emits its own writes (one node);
// PostgreSQL relays what every node's writes notify (store/postgres/change-feed.ts).

import type { ChangeFeed, StoreChange } from '../ports/store.js';

export class LocalChangeFeed implements ChangeFeed {
  readonly #listeners = new Set<(change: StoreChange) => void>();

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls every listener; one that throws does not keep the others from hearing it. */
  emit(change: StoreChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch {
        // A listener's own failure is its business (listeners log and retry themselves).
      }
    }
  }
}
