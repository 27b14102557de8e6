// Checks a key policy's shape as the person types, so an obviously broken document is caught
// before PutKeyPolicy; the server still validates everything else (principals, condition keys).

/** A sentence saying what is wrong with `text` as a key policy, or undefined when its shape is fine. */
export function validatePolicy(text: string): string | undefined {
  let policy: unknown;
  try {
    policy = JSON.parse(text);
  } catch (err) {
    return `Not valid JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) return 'The policy must be a JSON object.';
  const doc = policy as Record<string, unknown>;
  if (typeof doc['Version'] !== 'string') return 'The policy needs a "Version" (normally "2012-10-17").';
  const statements = doc['Statement'];
  if (!Array.isArray(statements) || statements.length === 0) return 'The policy needs a "Statement" array with at least one statement.';
  for (const [i, statement] of statements.entries()) {
    const where = `Statement ${i + 1}`;
    if (typeof statement !== 'object' || statement === null || Array.isArray(statement)) return `${where} must be a JSON object.`;
    const s = statement as Record<string, unknown>;
    if (s['Effect'] !== 'Allow' && s['Effect'] !== 'Deny') return `${where} needs "Effect": "Allow" or "Deny".`;
    if (!('Action' in s) && !('NotAction' in s)) return `${where} needs an "Action".`;
    if (!('Principal' in s) && !('NotPrincipal' in s)) return `${where} needs a "Principal".`;
  }
  return undefined;
}

/** The policy as the editor shows it: pretty-printed when it is JSON, else as stored. */
export function prettyPolicy(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
