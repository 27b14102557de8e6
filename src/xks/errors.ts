// The XKS proxy's errors (spec v1.0.3, "Error codes"): a JSON body {errorName, errorMessage} and
// the HTTP status the table gives each name. errorMessage must be < 512 printable ASCII characters;
// AWS KMS logs it but never relays it to its callers.

export const XKS_ERRORS = {
  ValidationException: 400,
  InvalidStateException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  AuthenticationFailedException: 401,
  AccessDeniedException: 403,
  KeyNotFoundException: 404,
  InvalidUriPathException: 404,
  // Not in the table: the spec only says a GET on an operation URI "MUST" get 405.
  MethodNotAllowedException: 405,
  ThrottlingException: 429,
  InternalException: 500,
  UnsupportedOperationException: 501,
  DependencyTimeoutException: 503,
} as const;

export type XksErrorName = keyof typeof XKS_ERRORS;

/** An error meant for AWS KMS (the proxy's caller). Put nothing secret in the message; attach it as `cause`. */
export class XksError extends Error {
  readonly errorName: XksErrorName;
  readonly status: number;

  constructor(errorName: XksErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'XksError';
    this.errorName = errorName;
    this.status = XKS_ERRORS[errorName];
  }
}

const MAX_MESSAGE = 511;

/** The wire body: the message clipped to the spec's limit and stripped to printable ASCII. */
export function xksErrorBody(err: XksError): { errorName: XksErrorName; errorMessage: string } {
  // eslint-disable-next-line no-control-regex
  const printable = err.message.replace(/[^\x20-\x7e]/g, '?');
  return { errorName: err.errorName, errorMessage: printable.length > MAX_MESSAGE ? `${printable.slice(0, MAX_MESSAGE - 3)}...` : printable };
}
