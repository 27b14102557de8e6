import { dataKeyInput, makeDataKey } from './generate-data-key.js';
import { keyMaterialId } from './key-metadata.js';
import { defineOperation } from './operation.js';

export const generateDataKeyWithoutPlaintext = defineOperation({
  name: 'GenerateDataKeyWithoutPlaintext',
  input: dataKeyInput.omit({ Recipient: true }),
  async run(ctx, deps, input) {
    const { key, plaintext, ciphertext } = await makeDataKey(deps, input, { ctx, kmsOperation: 'GenerateDataKeyWithoutPlaintext' });
    plaintext.fill(0);
    return { CiphertextBlob: ciphertext.toString('base64'), KeyId: key.arn, ...keyMaterialId(key) };
  },
});
