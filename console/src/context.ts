// What every view needs: the signed-in session, its KMS client and admin caller, and who it is.

import type { KMSClient } from '@aws-sdk/client-kms';
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

import type { Session } from './api/session.js';

export interface CallerIdentity {
  readonly Account: string;
  readonly Arn: string;
  readonly UserId: string;
  readonly Type?: string;
}

export interface ConsoleContext {
  readonly session: Session;
  readonly kms: KMSClient;
  /** Calls KeybridgeAdmin.<operation>, signed with the session's key. */
  admin<Output>(operation: string, input?: Record<string, unknown>): Promise<Output>;
  readonly identity: CallerIdentity;
  readonly accountId: string;
}

export const Console = createContext<ConsoleContext | undefined>(undefined);

export function useConsole(): ConsoleContext {
  const ctx = useContext(Console);
  if (ctx === undefined) throw new Error('useConsole outside a signed-in console');
  return ctx;
}
