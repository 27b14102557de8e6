// Policy variables (`${aws:username}`) in Resource and in String/ARN condition values.
//
// IAM substitutes a variable with the single value of that request-context key, and offers three
// escapes for characters that would otherwise be special: ${*}, ${?} and ${$}. A variable may carry
// a default: ${aws:username, 'guest'}. Only Version 2012-10-17 has variables; in 2008-10-17 (or
// with no Version) the text is literal. A variable whose key is absent (and has no default), or
// whose key is multi-valued, makes that one policy value unusable: it matches nothing.

import { escapeWildcards } from './wildcard.js';
import type { ConditionContext } from './condition-keys.js';

const VARIABLE = /\$\{([^}]*)\}/g;
const DEFAULTED = /^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$/;

export function hasVariables(text: string): boolean {
  return text.includes('${');
}

/**
 * Substitutes variables. `forWildcards` returns an escaped pattern (see WildcardOptions.escaped):
 * text outside variables keeps its `*`/`?` wildcards, substituted values and ${*}/${?} are literal.
 * Returns undefined when a variable cannot be resolved.
 */
export function substitute(text: string, context: ConditionContext, forWildcards: boolean): string | undefined {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(VARIABLE)) {
    out += literalText(text.slice(last, match.index), forWildcards);
    last = match.index + match[0].length;
    const value = resolve(match[1]!, context);
    if (value === undefined) return undefined;
    out += forWildcards ? escapeWildcards(value) : value;
  }
  return out + literalText(text.slice(last), forWildcards);
}

function literalText(text: string, forWildcards: boolean): string {
  // Outside variables only the backslash needs escaping: `*` and `?` stay wildcards.
  return forWildcards ? text.replace(/\\/g, '\\\\') : text;
}

function resolve(body: string, context: ConditionContext): string | undefined {
  if (body === '*' || body === '?' || body === '$') return body;
  const defaulted = DEFAULTED.exec(body);
  const key = (defaulted ? defaulted[1]! : body).trim();
  const value = context.get(key);
  if (value === undefined || Array.isArray(value)) return defaulted ? defaulted[2]! : undefined;
  return String(value);
}
