// The signed-in caller's access key, kept for this tab only (sessionStorage): it never leaves the
// browser except as SigV4 signatures, and closing the tab forgets it.

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface Session {
  readonly credentials: Credentials;
  /** The region keybridge answers for (the SigV4 scope); from /console/config.json. */
  readonly region: string;
}

const STORAGE_KEY = 'keybridge.console.session';

export function loadSession(): Session | undefined {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (raw === null) return undefined;
  try {
    const parsed = JSON.parse(raw) as Session;
    return typeof parsed.credentials?.accessKeyId === 'string' && typeof parsed.region === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** What the server tells the page before sign-in (src/http/console.ts). */
export interface ConsoleConfig {
  readonly region: string;
  readonly accountId: string;
}

export async function fetchConsoleConfig(): Promise<ConsoleConfig> {
  const response = await fetch('/console/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`keybridge did not answer /console/config.json (HTTP ${response.status})`);
  return (await response.json()) as ConsoleConfig;
}

/**
 * Reads an access key from what a user pastes: a credentials-file profile
 * (`aws_access_key_id = …` lines, optionally under a `[profile]` header; the first profile wins
 * unless `profile` names another). Undefined when no complete key is found.
 */
export function parseCredentialsProfile(text: string, profile?: string): Credentials | undefined {
  const profiles = new Map<string, Record<string, string>>();
  let current = '';
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const header = /^\[(?:profile\s+)?([^\]]+)\]$/.exec(trimmed);
    if (header) {
      current = header[1]!.trim();
      continue;
    }
    const pair = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(trimmed);
    if (!pair) continue;
    const values = profiles.get(current) ?? {};
    values[pair[1]!.toLowerCase()] = pair[2]!.trim();
    profiles.set(current, values);
  }
  const chosen = profile !== undefined && profile !== '' ? profiles.get(profile) : [...profiles.values()].find((v) => v['aws_access_key_id'] && v['aws_secret_access_key']);
  if (!chosen?.['aws_access_key_id'] || !chosen['aws_secret_access_key']) return undefined;
  return {
    accessKeyId: chosen['aws_access_key_id'],
    secretAccessKey: chosen['aws_secret_access_key'],
    ...(chosen['aws_session_token'] ? { sessionToken: chosen['aws_session_token'] } : {}),
  };
}
