// Custom key stores (AWS's CloudHSM key store, for any PKCS#11 cluster): the record keybridge
// keeps and the connection state machine of reference §4.
//
//   DISCONNECTED --connect--> CONNECTING --ok--> CONNECTED --disconnect--> DISCONNECTING --> DISCONNECTED
//                                  \--fails--> FAILED --disconnect--> DISCONNECTED
//
// ConnectCustomKeyStore is refused while DISCONNECTING or FAILED; DisconnectCustomKeyStore while
// DISCONNECTED or DISCONNECTING. Connecting a CONNECTED or CONNECTING store is a no-op.

import { KmsError } from './errors.js';

export type ConnectionState = 'CONNECTED' | 'CONNECTING' | 'FAILED' | 'DISCONNECTED' | 'DISCONNECTING';

/** The ConnectionErrorCode values of CloudHSM-type and external key stores (reference §2). */
export type ConnectionErrorCode =
  | 'INVALID_CREDENTIALS'
  | 'CLUSTER_NOT_FOUND'
  | 'NETWORK_ERRORS'
  | 'INTERNAL_ERROR'
  | 'INSUFFICIENT_CLOUDHSM_HSMS'
  | 'USER_LOCKED_OUT'
  | 'USER_NOT_FOUND'
  | 'USER_LOGGED_IN'
  // External key stores: what the proxy's health check answered (src/xks-client).
  | 'XKS_PROXY_ACCESS_DENIED'
  | 'XKS_PROXY_INVALID_CONFIGURATION'
  | 'XKS_PROXY_INVALID_RESPONSE'
  | 'XKS_PROXY_INVALID_TLS_CONFIGURATION'
  | 'XKS_PROXY_NOT_REACHABLE'
  | 'XKS_PROXY_TIMED_OUT';

export type CustomKeyStoreType = 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';

/** How an external key store reaches its XKS proxy (AWS's XksProxyConfiguration, without the secret). */
export interface XksProxyConfiguration {
  /** keybridge reaches proxies over the network it runs on: PUBLIC_ENDPOINT only. */
  readonly connectivity: 'PUBLIC_ENDPOINT';
  /** https://host (AWS: no port or path). */
  readonly uriEndpoint: string;
  /** [/prefix]/kms/xks/v1 */
  readonly uriPath: string;
  readonly accessKeyId: string;
}

export interface CustomKeyStoreRecord {
  /** `cks-` + 17 hex digits, like AWS's. */
  readonly id: string;
  readonly name: string;
  readonly type: CustomKeyStoreType;
  /** AWS_CLOUDHSM only ('' for an external key store). */
  readonly clusterId: string;
  /** AWS_CLOUDHSM only ('' for an external key store). */
  readonly trustAnchorCertificate: string;
  /**
   * Sealed under the default key store's HSM, bound to the store id. Base64. AWS_CLOUDHSM: the
   * crypto-user PIN (KeyStorePassword); EXTERNAL_KEY_STORE: the proxy credential's secret.
   */
  readonly sealedPassword: string;
  /** EXTERNAL_KEY_STORE only. */
  readonly xksProxy?: XksProxyConfiguration;
  readonly createdAt: number;
  /**
   * The state last recorded. CONNECTING / CONNECTED / DISCONNECTING are true only while this
   * process holds the connection; after a restart `wantConnected` decides what happens.
   */
  readonly connectionState: ConnectionState;
  readonly connectionErrorCode: ConnectionErrorCode | null;
  /** The operator asked to connect and has not asked to disconnect: reconnect after a restart. */
  readonly wantConnected: boolean;
}

export const CUSTOM_KEY_STORE_ID = /^cks-[0-9a-f]{17}$/;
export const CLUSTER_ID = /^cluster-[2-7a-zA-Z]{11,16}$/;
export const MAX_CUSTOM_KEY_STORES = 10;

export function assertCanConnect(store: CustomKeyStoreRecord): void {
  if (store.connectionState === 'DISCONNECTING' || store.connectionState === 'FAILED') {
    throw new KmsError(
      'CustomKeyStoreInvalidStateException',
      `Custom key store ${store.id} is ${store.connectionState}; ${store.connectionState === 'FAILED' ? 'disconnect it before connecting again' : 'wait until it is DISCONNECTED'}.`,
    );
  }
}

export function assertCanDisconnect(store: CustomKeyStoreRecord): void {
  if (store.connectionState === 'DISCONNECTED' || store.connectionState === 'DISCONNECTING') {
    throw new KmsError('CustomKeyStoreInvalidStateException', `Custom key store ${store.id} is already ${store.connectionState}.`);
  }
}

/** Deleting, and changing the password or cluster, need the store DISCONNECTED. */
export function assertDisconnected(store: CustomKeyStoreRecord, action: string): void {
  if (store.connectionState !== 'DISCONNECTED') {
    throw new KmsError('CustomKeyStoreInvalidStateException', `You cannot ${action} while custom key store ${store.id} is ${store.connectionState}; disconnect it first.`);
  }
}
