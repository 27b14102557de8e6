// How a call to an external key store proxy failed, in the terms AWS KMS uses for an external key
// store (ConnectionErrorCode XKS_PROXY_NOT_REACHABLE, XKS_PROXY_TIMED_OUT,
// XKS_PROXY_INVALID_TLS_CONFIGURATION, XKS_PROXY_INVALID_RESPONSE), plus the proxy's own spec
// errors. Messages never carry plaintext or the secret access key.

export type XksFailureKind =
  /** DNS failure, connection refused/reset, no route. */
  | 'NOT_REACHABLE'
  /** No complete answer within the call's timeout. */
  | 'TIMED_OUT'
  /** Certificate untrusted/expired/for another name, handshake failure, plain HTTP refused. */
  | 'INVALID_TLS'
  /** Not the spec's shape: non-JSON, missing/invalid members, CDIV mismatch, wrong lengths, unknown errorName, 2xx other than 200... */
  | 'INVALID_RESPONSE'
  /** The proxy answered with a spec error {errorName} and its status. */
  | 'PROXY_ERROR';

export class XksProxyError extends Error {
  readonly kind: XksFailureKind;
  /** For PROXY_ERROR: the spec's errorName (AuthenticationFailedException, KeyNotFoundException, ...). */
  readonly errorName?: string;
  /** The HTTP status, when the proxy answered at all. */
  readonly status?: number;
  /** For PROXY_ERROR: the proxy's errorMessage (printable ASCII, clipped), for logs only; AWS KMS never relays it. */
  readonly errorMessage?: string;

  constructor(kind: XksFailureKind, message: string, options: { errorName?: string; status?: number; errorMessage?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'XksProxyError';
    this.kind = kind;
    if (options.errorName !== undefined) this.errorName = options.errorName;
    if (options.status !== undefined) this.status = options.status;
    if (options.errorMessage !== undefined) this.errorMessage = options.errorMessage;
  }
}
