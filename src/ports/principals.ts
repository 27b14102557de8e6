// Who may call: access keys and the principals they belong to.
//
// The foundation has one kind of principal (the operator's credentials from the credentials
// file); the authorization issue adds users, roles and policies behind this same port.

export interface Principal {
  /** e.g. arn:aws:iam::111122223333:user/keybridge-admin */
  readonly arn: string;
  readonly accountId: string;
  readonly type: 'Root' | 'IAMUser';
  readonly userName?: string;
}

export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly principal: Principal;
}

export interface CredentialsProvider {
  lookup(accessKeyId: string): AccessKey | undefined;
}
