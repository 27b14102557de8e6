// Relays the `keybridge_changes` notifications (migration 10's triggers: every node's writes to
// the tables nodes keep in memory) to this node's listeners, over one dedicated connection.
//
// Notifications sent while that connection is down are lost, so after every reconnection the
// listeners hear `resync` and reload everything. Reconnection retries until close().

import pg from 'pg';
import type { StoreChange } from '../../ports/store.js';
import { LocalChangeFeed } from '../change-feed.js';
import { clientConfig, type PostgresConnectionOptions } from './connection.js';

const CHANNEL = 'keybridge_changes';
const CHANGES: readonly StoreChange[] = ['principals', 'xks-credentials', 'xks-keys', 'custom-key-stores'];
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export class PostgresChangeFeed extends LocalChangeFeed {
  readonly #options: PostgresConnectionOptions;
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs = RETRY_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  #connected: Promise<void> | undefined;

  constructor(options: PostgresConnectionOptions) {
    super();
    this.#options = options;
  }

  /** Connects and listens; rejects when the first connection fails (the store's open fails with it). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** True while notifications can arrive (for health output). */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#connected?.catch(() => undefined);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(): Promise<void> {
    const client = new pg.Client({
      ...clientConfig(this.#options),
      application_name: 'keybridge-changes',
      // The server notices a dead peer; keepalive lets us notice a dead server.
      keepAlive: true,
    });
    client.on('notification', (message) => {
      const change = CHANGES.find((c) => c === message.payload);
      if (change !== undefined) this.emit(change);
    });
    const lost = (): void => {
      if (this.#client !== client) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    this.#connected = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        client.removeAllListeners('end');
        client.on('error', () => undefined);
        await client.end().catch(() => undefined);
        throw err;
      }
      if (this.#closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      this.#retryMs = RETRY_MIN_MS;
    })();
    return this.#connected;
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
    this.#timer = setTimeout(() => {
      this.#connect().then(
        // Whatever was notified while we were away is lost: everyone reloads.
        () => this.emit('resync'),
        () => this.#scheduleReconnect(),
      );
    }, delay);
    this.#timer.unref();
  }
}
