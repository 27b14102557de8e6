// Runs the contract suite against one token and produces its report: the token's description,
// the mechanisms it lists, and one capability fact per check.

import { mechanismName, mechanismNumber, outcomeOf, unsupported, type CheckOutcome, type CheckStatus, type ContractCheck } from './check.js';
import { ContractSession, type ContractOptions, type TokenDescription } from './session.js';
import { CONTRACT_CHECKS } from './suite.js';

export interface CheckResult {
  readonly id: string;
  readonly purpose: string;
  readonly status: CheckStatus;
  readonly detail?: string;
}

export interface ContractReport {
  /** The name the caller gave the implementation (e.g. "SoftHSM2"). */
  readonly implementation: string;
  readonly token: TokenDescription;
  /** Every mechanism the token lists, by name. */
  readonly mechanisms: readonly string[];
  readonly results: readonly CheckResult[];
}

async function runOne(session: ContractSession, check: ContractCheck): Promise<CheckOutcome> {
  if (check.needsSoPin === true && session.options.soPin === undefined) return unsupported('not run: no SO PIN given');
  const missing = (check.mechanisms ?? []).filter((name) => !session.listed(mechanismNumber(name)));
  if (missing.length > 0) return unsupported(`not listed: ${missing.join(', ')}`);
  try {
    return await check.run(session);
  } catch (err) {
    return outcomeOf(err);
  } finally {
    session.endCheck();
  }
}

export async function runContract(implementation: string, options: ContractOptions, checks: readonly ContractCheck[] = CONTRACT_CHECKS): Promise<ContractReport> {
  const session = ContractSession.open(options);
  try {
    const results: CheckResult[] = [];
    for (const check of checks) {
      const outcome = await runOne(session, check);
      results.push({ id: check.id, purpose: check.purpose, status: outcome.status, ...(outcome.detail === undefined ? {} : { detail: outcome.detail }) });
    }
    const mechanisms = [...session.mechanisms.keys()].map(mechanismName).sort();
    return { implementation, token: session.description, mechanisms, results };
  } finally {
    session.close();
  }
}
