import { keyMaterialId } from './key-metadata.js';
import { dataKeyPairInput, makeDataKeyPair } from './generate-data-key-pair.js';
import { defineOperation } from './operation.js';

export const generateDataKeyPairWithoutPlaintext = defineOperation({
  name: 'GenerateDataKeyPairWithoutPlaintext',
  input: dataKeyPairInput.omit({ Recipient: true }),
  async run(_ctx, deps, input) {
    const pair = await makeDataKeyPair(deps, input);
    pair.privateKey.fill(0);
    return {
      PrivateKeyCiphertextBlob: pair.ciphertext.toString('base64'),
      PublicKey: pair.publicKey.toString('base64'),
      KeyId: pair.key.arn,
      KeyPairSpec: input.KeyPairSpec,
      ...keyMaterialId(pair.key),
    };
  },
});
