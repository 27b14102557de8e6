// Admission control for one custom key store: a token bucket sized to the store's request quota
// (AWS: 1,800 cryptographic requests per second per custom key store). Beyond it the request is
// refused with ThrottlingException before any HSM is asked — SDKs back off and retry on that,
// whereas an overloaded HSM answers CKR_FUNCTION_FAILED, which nobody retries sensibly.

import { performance } from 'node:perf_hooks';

import { HsmError } from '../../ports/hsm.js';

export class AdmissionControl {
  private tokens: number;
  private refilledAt = performance.now();

  /** `perSecond` 0 disables the quota. The bucket holds one second's worth (AWS's burst). */
  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Takes one token or throws HSM_THROTTLED (ThrottlingException). */
  admitRequest(): void {
    if (this.perSecond <= 0) return;
    const now = performance.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = now;
    if (this.tokens < 1) {
      throw new HsmError('HSM_THROTTLED', `the key store's quota of ${this.perSecond} requests per second is used up`);
    }
    this.tokens -= 1;
  }
}
