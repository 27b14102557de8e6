// The public half of an asymmetric key, as PEM, and a download of it. The download is a Blob URL
// clicked from script: no data: URL, which the console's Content-Security-Policy refuses.

import { GetPublicKeyCommand } from '@aws-sdk/client-kms';

import { ErrorNote } from '../../components/ErrorNote.js';
import { useLoad } from '../../components/hooks.js';
import { useConsole } from '../../context.js';
import { publicKeyPem } from './pem.js';

function download(fileName: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The click has started the download; a tick later the URL is no longer needed.
  window.setTimeout(() => URL.revokeObjectURL(url), 0);
}

export function PublicKey({ keyId }: { keyId: string }) {
  const { kms } = useConsole();
  const answer = useLoad(async () => {
    const got = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    return { pem: publicKeyPem(got.PublicKey ?? new Uint8Array()), keyId: got.KeyId?.split('/').pop() ?? keyId };
  }, [keyId]);
  return (
    <section class="card" aria-labelledby="public-key-heading" data-testid="key-public-key">
      <div class="heading">
        <h2 id="public-key-heading">Public key</h2>
        <button type="button" disabled={answer.data === undefined} onClick={() => answer.data && download(`${answer.data.keyId}.pem`, answer.data.pem)}>
          Download public key
        </button>
      </div>
      <ErrorNote error={answer.error} />
      {answer.data !== undefined ? <pre data-testid="public-key">{answer.data.pem}</pre> : answer.loading ? <p class="muted">Loading the public key…</p> : null}
    </section>
  );
}
