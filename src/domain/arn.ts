// ARNs exactly as AWS writes them: arn:aws:kms:<region>:<account>:key/<uuid> and …:alias/<name>.

export interface Account {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

export function keyArn(account: Account, keyId: string): string {
  return `arn:${account.partition}:kms:${account.region}:${account.accountId}:key/${keyId}`;
}

/** `aliasName` includes its `alias/` prefix, as on the wire. */
export function aliasArn(account: Account, aliasName: string): string {
  return `arn:${account.partition}:kms:${account.region}:${account.accountId}:${aliasName}`;
}

export function rootPrincipalArn(account: Account): string {
  return `arn:${account.partition}:iam::${account.accountId}:root`;
}

export interface ParsedArn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly accountId: string;
  readonly resource: string;
}

/** Splits an ARN into its six parts; undefined when the text is not ARN-shaped. */
export function parseArn(text: string): ParsedArn | undefined {
  const parts = text.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition, service, region, accountId] = parts as [string, string, string, string, string];
  const resource = parts.slice(5).join(':');
  if (!partition || !service || resource.length === 0) return undefined;
  return { partition, service, region, accountId, resource };
}
