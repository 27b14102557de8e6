// The four operations of the XKS proxy API, after the HTTP layer has matched the URI and verified
// the signature. Order of checks (nothing reaches the HSM before all pass): body → secondary
// authorization (not for health) → key exists under this URI path → key ENABLED → key usage →
// HSM. Plaintext is never logged or recorded, and zeroed once encoded.

import { XksError } from './errors.js';
import type { XksHealth } from './health.js';
import { toXksError } from './hsm-errors.js';
import { ciphertextDataIntegrityValue, hsmAad } from './integrity.js';
import type { XksKeys } from './keys.js';
import type { SecondaryAuthorization } from './secondary-authorization.js';
import type { ProxyPath } from './uri.js';
import { healthMetadata, parseDecrypt, parseEncrypt, parseJsonObject, parseRequestMetadata, type RequestMetadata } from './wire.js';
import type { XksKeyRecord, XksKeyUsage } from '../ports/xks-store.js';

export interface XksProxyDeps {
  readonly keys: XksKeys;
  readonly health: XksHealth;
  /** Absent: no secondary authorization configured. */
  readonly authorization?: SecondaryAuthorization | undefined;
}

/** What the audit record of a call needs, filled in as the call gets that far. */
export interface CallFacts {
  metadata?: RequestMetadata;
  key?: XksKeyRecord;
  /** Non-secret request members for the record (algorithm names, lengths). */
  parameters?: Record<string, unknown>;
}

const GCM = 'AES_256_GCM' as const;

export class XksProxy {
  constructor(private readonly deps: XksProxyDeps) {}

  async run(path: ProxyPath, body: Buffer, facts: CallFacts): Promise<unknown> {
    if (path.operation === 'GetHealthStatus') {
      facts.metadata = healthMetadata(body);
      return this.deps.health.check(path.uriPath);
    }
    const json = parseJsonObject(body);
    switch (path.operation) {
      case 'GetKeyMetadata': {
        facts.metadata = parseRequestMetadata(json, 'GetKeyMetadata');
        const key = await this.#authorizedKey(path, facts.metadata, facts);
        return { keySpec: 'AES_256', keyUsage: [...key.usage], keyStatus: key.status };
      }
      case 'Encrypt': {
        const input = parseEncrypt(json);
        facts.metadata = input.requestMetadata;
        facts.parameters = {
          encryptionAlgorithm: 'AES_GCM',
          plaintextLength: input.plaintext.length,
          additionalAuthenticatedDataLength: input.aad?.length ?? 0,
          ...(input.cdivAlgorithm ? { ciphertextDataIntegrityValueAlgorithm: input.cdivAlgorithm } : {}),
        };
        try {
          const key = this.#usable(await this.#authorizedKey(path, input.requestMetadata, facts), 'ENCRYPT');
          return await this.#encrypt(key, input.plaintext, input.aad, input.cdivAlgorithm !== undefined);
        } finally {
          input.plaintext.fill(0);
        }
      }
      case 'Decrypt': {
        const input = parseDecrypt(json);
        facts.metadata = input.requestMetadata;
        facts.parameters = {
          encryptionAlgorithm: 'AES_GCM',
          ciphertextLength: input.ciphertext.length,
          additionalAuthenticatedDataLength: input.aad?.length ?? 0,
          ciphertextMetadataLength: input.ciphertextMetadata?.length ?? 0,
        };
        const key = this.#usable(await this.#authorizedKey(path, input.requestMetadata, facts), 'DECRYPT');
        // Only 12-byte IVs are ever made here: any other cannot be one of ours.
        if (input.iv.length !== 12) throw invalidCiphertext();
        const plaintext = await this.#hsm(key, (hsm) =>
          hsm.decrypt(this.deps.keys.refOf(key), input.iv, input.ciphertext, input.tag, hsmAad(input.aad, input.ciphertextMetadata), GCM),
        );
        try {
          return { plaintext: plaintext.toString('base64') };
        } finally {
          plaintext.fill(0);
        }
      }
    }
  }

  /** Secondary authorization, then the key as this URI path sees it (another path's keys do not exist here). */
  async #authorizedKey(path: ProxyPath, metadata: RequestMetadata, facts: CallFacts): Promise<XksKeyRecord> {
    this.deps.authorization?.check(path.uriPath, path.operation as Exclude<ProxyPath['operation'], 'GetHealthStatus'>, metadata);
    const key = await this.deps.keys.get(path.keyId!);
    if (key === undefined || key.uriPath !== path.uriPath) {
      throw new XksError('KeyNotFoundException', `External key ${path.keyId} was not found.`);
    }
    facts.key = key;
    return key;
  }

  #usable(key: XksKeyRecord, usage: XksKeyUsage): XksKeyRecord {
    if (key.status !== 'ENABLED') throw new XksError('InvalidStateException', `External key ${key.xksKeyId} is disabled.`);
    if (!key.usage.includes(usage)) {
      throw new XksError('InvalidKeyUsageException', `External key ${key.xksKeyId} does not allow ${usage}; its key usage is ${key.usage.join(', ')}.`);
    }
    return key;
  }

  async #encrypt(key: XksKeyRecord, plaintext: Buffer, aad: Buffer | undefined, withCdiv: boolean): Promise<unknown> {
    const ref = this.deps.keys.refOf(key);
    const fullAad = hsmAad(aad, undefined);
    const sealed = await this.#hsm(key, (hsm) => hsm.encrypt(ref, plaintext, fullAad, GCM));
    if (withCdiv) {
      // The spec's recommended order (Appendix C): encrypt, hash, decrypt again and compare, so a
      // ciphertext AWS KMS stores is known to decrypt.
      const back = await this.#hsm(key, (hsm) => hsm.decrypt(ref, sealed.iv, sealed.ciphertext, sealed.tag, fullAad, GCM));
      const same = back.equals(plaintext);
      back.fill(0);
      if (!same) throw new XksError('InternalException', 'The ciphertext did not decrypt to the plaintext; nothing was returned.');
    }
    return {
      ciphertext: sealed.ciphertext.toString('base64'),
      initializationVector: sealed.iv.toString('base64'),
      authenticationTag: sealed.tag.toString('base64'),
      ...(withCdiv ? { ciphertextDataIntegrityValue: ciphertextDataIntegrityValue({ aad, iv: sealed.iv, ciphertext: sealed.ciphertext, tag: sealed.tag }) } : {}),
    };
  }

  async #hsm<T>(key: XksKeyRecord, call: (hsm: ReturnType<XksKeys['hsmOf']>) => Promise<T>): Promise<T> {
    try {
      return await call(this.deps.keys.hsmOf(key));
    } catch (err) {
      throw toXksError(err);
    }
  }
}

function invalidCiphertext(): XksError {
  return new XksError(
    'InvalidCiphertextException',
    'The ciphertext, initialization vector, additional authenticated data, ciphertext metadata or authentication tag is invalid.',
  );
}
