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

/** The ConnectionErrorCode values that apply to CloudHSM-type stores (reference §2). */
export type ConnectionErrorCode =
  | 'INVALID_CREDENTIALS'
  | 'CLUSTER_NOT_FOUND'
  | 'NETWORK_ERRORS'
  | 'INTERNAL_ERROR'
  | 'INSUFFICIENT_CLOUDHSM_HSMS'
  | 'USER_LOCKED_OUT'
  | 'USER_NOT_FOUND'
  | 'USER_LOGGED_IN';

export interface CustomKeyStoreRecord {
  /** `cks-` + 17 hex digits, like AWS's. */
  readonly id: string;
  readonly name: string;
  readonly type: 'AWS_CLOUDHSM';
  readonly clusterId: string;
  readonly trustAnchorCertificate: string;
  /** The crypto-user PIN (KeyStorePassword), sealed under the default key store's HSM. Base64. */
  readonly sealedPassword: string;
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
