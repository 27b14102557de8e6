// Wildcard matching as IAM does it for Action, Resource, StringLike and ArnLike: `*` matches any
// run of characters (including none), `?` exactly one, everything else itself.
//
// WARNING: no RegExp. Policy text comes from callers (PutKeyPolicy); a pattern such as
// `*a*a*a*a*b` compiled to a backtracking regex is a ReDoS. The two-pointer loop below is
// O(pattern × text) at worst and needs no escaping.

export interface WildcardOptions {
  /** Compare letters without regard to case (actions). Default false. */
  readonly ignoreCase?: boolean;
  /**
   * The pattern uses `\` to mark the next character as literal. Only patterns that went through
   * policy-variable substitution are escaped (`${*}` is a literal asterisk there); plain policy
   * text treats a backslash as an ordinary character.
   */
  readonly escaped?: boolean;
}

interface Token {
  readonly ch: string;
  readonly wild: '*' | '?' | undefined;
}

function tokenize(pattern: string, escaped: boolean): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (escaped && ch === '\\' && i + 1 < pattern.length) {
      out.push({ ch: pattern[++i]!, wild: undefined });
    } else if (ch === '*' || ch === '?') {
      out.push({ ch, wild: ch });
    } else {
      out.push({ ch, wild: undefined });
    }
  }
  return out;
}

export function wildcardMatch(pattern: string, text: string, options: WildcardOptions = {}): boolean {
  const fold = options.ignoreCase === true;
  const p = tokenize(fold ? pattern.toLowerCase() : pattern, options.escaped === true);
  const t = fold ? text.toLowerCase() : text;
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    const tok = p[pi];
    if (tok !== undefined && (tok.wild === '?' || (tok.wild === undefined && tok.ch === t[ti]))) {
      pi++;
      ti++;
    } else if (tok !== undefined && tok.wild === '*') {
      star = pi++;
      mark = ti;
    } else if (star >= 0) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (p[pi]?.wild === '*') pi++;
  return pi === p.length;
}

/** Escapes a literal so it can be spliced into an escaped pattern. */
export function escapeWildcards(literal: string): string {
  return literal.replace(/[\\*?]/g, (c) => `\\${c}`);
}

/**
 * ArnLike/ArnEquals: each of the six colon-separated parts is matched on its own, so a `*` in the
 * region cannot swallow the account. The resource part keeps any further colons. A value that is
 * not ARN-shaped never matches; a pattern of just `*` matches anything.
 */
export function arnMatch(pattern: string, value: string, options: WildcardOptions = {}): boolean {
  if (pattern === '*') return true;
  const p = splitArn(pattern);
  const v = splitArn(value);
  if (!p || !v) return false;
  for (let i = 0; i < 6; i++) {
    if (!wildcardMatch(p[i]!, v[i]!, options)) return false;
  }
  return true;
}

function splitArn(text: string): string[] | undefined {
  const parts = text.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}
