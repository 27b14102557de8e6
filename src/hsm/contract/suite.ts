// The contract suite: every check, in report order.

import type { ContractCheck } from './check.js';
import { EC_CHECKS } from './checks/ec.js';
import { HMAC_CHECKS } from './checks/hmac.js';
import { RSA_CHECKS, SINGLE_PURPOSE_CHECKS } from './checks/rsa.js';
import { SESSION_CHECKS } from './checks/session.js';
import { SYMMETRIC_CHECKS } from './checks/symmetric.js';
import { WRAPPING_CHECKS } from './checks/wrapping.js';

export const CONTRACT_CHECKS: readonly ContractCheck[] = [...SESSION_CHECKS, ...SYMMETRIC_CHECKS, ...HMAC_CHECKS, ...RSA_CHECKS, ...EC_CHECKS, ...WRAPPING_CHECKS, ...SINGLE_PURPOSE_CHECKS];
