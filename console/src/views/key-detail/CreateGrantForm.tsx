// Creates a grant: grantee, optional retiring principal and name, the operations this key can be
// granted, and for symmetric encryption keys an optional encryption-context constraint.

import { CreateGrantCommand, type GrantConstraints, type GrantOperation, type KeyMetadata } from '@aws-sdk/client-kms';
import { useState } from 'preact/hooks';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useAction } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { grantOperationsFor, parseContextLines, takesContextConstraints } from './grant-operations.js';

type ConstraintKind = '' | 'EncryptionContextEquals' | 'EncryptionContextSubset';

interface Props {
  keyId: string;
  metadata: KeyMetadata | undefined;
  onCancel: () => void;
  onCreated: (grantId: string) => void;
}

export function CreateGrantForm({ keyId, metadata, onCancel, onCreated }: Props) {
  const { kms } = useConsole();
  const [grantee, setGrantee] = useState('');
  const [retiring, setRetiring] = useState('');
  const [name, setName] = useState('');
  const [operations, setOperations] = useState<GrantOperation[]>([]);
  const [constraintKind, setConstraintKind] = useState<ConstraintKind>('');
  const [contextText, setContextText] = useState('');
  const offered = grantOperationsFor(metadata);
  const withConstraints = takesContextConstraints(metadata);

  const create = useAction(async () => {
    let constraints: GrantConstraints | undefined;
    if (withConstraints && constraintKind !== '') constraints = { [constraintKind]: parseContextLines(contextText) };
    const answer = await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: grantee.trim(),
        Operations: offered.filter((op) => operations.includes(op)),
        ...(retiring.trim() === '' ? {} : { RetiringPrincipal: retiring.trim() }),
        ...(name.trim() === '' ? {} : { Name: name.trim() }),
        ...(constraints === undefined ? {} : { Constraints: constraints }),
      }),
    );
    onCreated(answer.GrantId ?? '');
  });
  const toggle = (op: GrantOperation, on: boolean) => setOperations(on ? [...operations, op] : operations.filter((o) => o !== op));

  return (
    <form
      class="card nested"
      aria-label="Create grant"
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <label>
        Grantee principal (ARN)
        <input name="granteePrincipal" required placeholder="arn:aws:iam::111122223333:user/alice" value={grantee} onInput={(e) => setGrantee(e.currentTarget.value)} />
      </label>
      <label>
        Retiring principal (optional)
        <input name="retiringPrincipal" value={retiring} onInput={(e) => setRetiring(e.currentTarget.value)} />
      </label>
      <label>
        Grant name (optional)
        <input name="grantName" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <fieldset>
        <legend>Operations</legend>
        {offered.map((op) => (
          <label class="check">
            <input type="checkbox" name="operation" value={op} checked={operations.includes(op)} onChange={(e) => toggle(op, e.currentTarget.checked)} /> {op}
          </label>
        ))}
      </fieldset>
      {withConstraints ? (
        <div class="row">
          <label>
            Encryption context constraint
            <select name="constraintType" value={constraintKind} onChange={(e) => setConstraintKind(e.currentTarget.value as ConstraintKind)}>
              <option value="">None</option>
              <option value="EncryptionContextEquals">EncryptionContextEquals (exactly these pairs)</option>
              <option value="EncryptionContextSubset">EncryptionContextSubset (at least these pairs)</option>
            </select>
          </label>
          {constraintKind !== '' ? (
            <label class="grow">
              Encryption context (one key=value a line)
              <textarea name="encryptionContext" class="code" rows={3} value={contextText} onInput={(e) => setContextText(e.currentTarget.value)} />
            </label>
          ) : null}
        </div>
      ) : null}
      <div class="actions">
        <button type="submit" class="primary" disabled={create.busy || grantee.trim() === '' || operations.length === 0}>
          Create grant
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <ErrorNote error={create.error} />
    </form>
  );
}
