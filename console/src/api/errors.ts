// Every failure is shown as AWS's error name and message, as the AWS console does.

export class ApiError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ShownError {
  readonly name: string;
  readonly message: string;
}

export function describeError(err: unknown): ShownError {
  if (err instanceof ApiError) return { name: err.errorName, message: err.message };
  if (err instanceof Error) {
    // The SDK's service exceptions carry the AWS error name as `name`.
    const name = err.name === 'Error' || err.name === '' ? 'Error' : err.name;
    return { name, message: err.message };
  }
  return { name: 'Error', message: String(err) };
}
