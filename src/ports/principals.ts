// Who may call: access keys and the principals they belong to.
//
// The foundation has one kind of principal (the operator's credentials from the credentials
// file); the authorization issue adds users, roles and policies behind this same port.

export interface Principal {
  /** e.g. arn:aws:iam::111122223333:user/keybridge-admin */
  readonly arn: string;
  readonly accountId: string;
  /**
   * 'AssumedRole' is a role principal created with `principals create --role`: keybridge gives
   * roles long-term access keys directly (no STS sessions), and such a caller is the role ARN
   * itself (arn:aws:iam::<acct>:role/<name>).
   */
  readonly type: 'Root' | 'IAMUser' | 'AssumedRole';
  readonly userName?: string;
  /** The access key the request was signed with (set by the store-backed provider). */
  readonly accessKeyId?: string;
  /** The principal's IAM identity policies (JSON documents, as stored); absent or [] for none. */
  readonly identityPolicies?: readonly string[];
}

export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly principal: Principal;
}

export interface CredentialsProvider {
  lookup(accessKeyId: string): AccessKey | undefined;
}
