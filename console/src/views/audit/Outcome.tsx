// An event's outcome as a pill (Success, or the error code with its message as the tooltip), and
// the key id out of a resource ARN.

import { type CloudTrailRecord, stringMember } from './types.js';

export function Outcome({ record }: { record: CloudTrailRecord | undefined }) {
  const code = stringMember(record, 'errorCode');
  if (code === undefined) return <span class="state state-Success">Success</span>;
  return (
    <span class="state state-Error" title={stringMember(record, 'errorMessage') ?? code}>
      {code}
    </span>
  );
}

/** "arn:aws:kms:eu-west-1:111122223333:key/<id>" → "<id>"; undefined for anything else. */
export function keyIdOf(resourceName: string): string | undefined {
  const at = resourceName.indexOf(':key/');
  return resourceName.startsWith('arn:') && at >= 0 ? resourceName.slice(at + ':key/'.length) : undefined;
}
