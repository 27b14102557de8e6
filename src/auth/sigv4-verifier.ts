// SigV4 request authentication: who sent this request, and did they hold the secret?
//
// We do not canonicalise requests ourselves. The signature is recomputed by `@smithy/signature-v4`
// (the signer inside the AWS SDK for JavaScript v3) over exactly the headers the client listed in
// SignedHeaders, then compared in constant time. Our own code only parses the Authorization
// header, checks the credential scope and the clock, and makes sure the signer's own additions
// cannot change the canonical header set (see `recompute`).
//
// Error names and texts follow what AWS JSON services send (reference §3.6), so SDKs and the CLI
// show their usual messages. Messages never contain the client's signature.

import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { KmsError } from '../domain/errors.js';
import type { AccessKey, CredentialsProvider } from '../ports/principals.js';

export interface SigV4VerifierOptions {
  readonly credentials: CredentialsProvider;
  /** The one region this endpoint answers for; the credential scope must name it. */
  readonly region: string;
  /** The SigV4 signing name; 'kms' for this service. */
  readonly service: string;
  /**
   * Allowed distance between X-Amz-Date and our clock, both directions. AWS JSON services answer
   * "Signature expired ... - 5 min.", so 5 minutes is the configured default.
   */
  readonly maxSkewMs: number;
  /** Epoch milliseconds; injectable for tests. */
  readonly now?: () => number;
}

export interface SigV4Request {
  readonly method: string;
  /**
   * The raw path as received (still percent-encoded), without the query string; KMS: always "/".
   * SigV4 clients escape the wire path once more for the canonical request, as the signer does.
   */
  readonly path: string;
  /** The raw query string without '?', percent-encoded as received; '' or absent for none. */
  readonly query?: string;
  /** Header map as Node's IncomingMessage gives it: lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const TERMINATOR = 'aws4_request';
const CONTENT_SHA256 = 'x-amz-content-sha256';
const ONLY_CONTENT_SHA256 = new Set([CONTENT_SHA256]);
/** Longest piece of client input we echo back in an error message. */
const MAX_ECHO = 512;

const MSG_MISSING_TOKEN = 'Missing Authentication Token';
const MSG_UNKNOWN_KEY = 'The security token included in the request is invalid.';
const MSG_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS ' +
  'Secret Access Key and signing method. Consult the service documentation for details.';
const MSG_NO_DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.";
const MSG_HOST_UNSIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";
// AWS requires a date header that is used to be signed; we only accept X-Amz-Date, and the clock
// check trusts it.
const MSG_DATE_UNSIGNED = "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.";
// Our rule, worded as AWS words its own required signed headers: in the AWS JSON protocol the
// body is the same for many operations, so an unsigned X-Amz-Target lets anyone holding one
// signed request replay it as another operation (an Encrypt as ScheduleKeyDeletion). Every AWS
// client (CLI, botocore, the JS SDK) signs it.
const MSG_TARGET_UNSIGNED = "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.";
const TARGET = 'x-amz-target';

interface CachedSigner {
  readonly secretAccessKey: string;
  readonly signer: SignatureV4;
}

export class SigV4Verifier {
  private readonly credentials: CredentialsProvider;
  private readonly region: string;
  private readonly service: string;
  private readonly maxSkewMs: number;
  private readonly now: () => number;
  private readonly skewLabel: string;
  /**
   * One signer per access key, so each carries its own static credentials, and its derived
   * signing keys (see cacheSigningKeys).
   */
  private readonly signers = new Map<string, CachedSigner>();

  constructor(options: SigV4VerifierOptions) {
    this.credentials = options.credentials;
    this.region = options.region;
    this.service = options.service;
    this.maxSkewMs = options.maxSkewMs;
    this.now = options.now ?? Date.now;
    this.skewLabel = `${options.maxSkewMs / 60_000} min.`;
  }

  /**
   * Authenticates one request. Resolves to the access key (with its principal) that signed it;
   * rejects with a KmsError (MissingAuthenticationToken, IncompleteSignature, InvalidSignature,
   * UnrecognizedClient) that can be sent to the client as is.
   */
  async verify(req: SigV4Request): Promise<AccessKey> {
    const authorization = headerValue(req.headers, 'authorization');
    if (authorization === undefined || authorization.trim() === '') {
      throw new KmsError('MissingAuthenticationTokenException', MSG_MISSING_TOKEN);
    }
    const auth = parseAuthorization(authorization);

    const { credential, signedHeaders, signature, amzDate } = requireParts(auth, req.headers);

    const requestMs = parseAmzDate(amzDate);
    if (requestMs === undefined) {
      throw new KmsError(
        'IncompleteSignatureException',
        `Date must be in ISO-8601 'basic format'. Got '${clip(amzDate)}'. See http://en.wikipedia.org/wiki/ISO_8601`,
      );
    }

    const scope = credential.split('/');
    if (scope.length !== 5) {
      throw new KmsError(
        'IncompleteSignatureException',
        'Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, ' +
          `got '${clip(credential)}'`,
      );
    }
    const [accessKeyId, scopeDate, scopeRegion, scopeService, scopeTerminator] = scope as [
      string, string, string, string, string,
    ];
    this.checkScope(scopeDate, scopeRegion, scopeService, scopeTerminator, amzDate);

    const signedNames = signedHeaders.split(';');
    if (!signedNames.includes('host')) throw new KmsError('IncompleteSignatureException', MSG_HOST_UNSIGNED);
    if (!signedNames.includes('x-amz-date')) throw new KmsError('IncompleteSignatureException', MSG_DATE_UNSIGNED);
    // A present X-Amz-Target (even empty or repeated) routes the request, so it must be signed.
    if (headerValue(req.headers, TARGET) !== undefined && !signedNames.includes(TARGET)) {
      throw new KmsError('IncompleteSignatureException', MSG_TARGET_UNSIGNED);
    }

    this.checkClock(requestMs, amzDate);

    const key = this.credentials.lookup(accessKeyId);
    // Our access keys are long-term; a session token means credentials we did not issue (AWS
    // answers the same for a bad or unexpected token).
    if (key === undefined || headerValue(req.headers, 'x-amz-security-token') !== undefined) {
      throw new KmsError('UnrecognizedClientException', MSG_UNKNOWN_KEY);
    }

    const provided = decodeSignature(signature);
    const expected = await this.recompute(key, req, signedNames, signedHeaders, requestMs);
    // Lengths are public (always 32 bytes when well-formed); only the contents are compared in
    // constant time.
    if (provided === undefined || expected === undefined || !timingSafeEqual(provided, expected)) {
      throw new KmsError('InvalidSignatureException', MSG_MISMATCH);
    }
    return key;
  }

  /** All scope faults in one message, in AWS's order. */
  private checkScope(date: string, region: string, service: string, terminator: string, amzDate: string): void {
    let faults = '';
    if (region !== this.region) faults += 'Credential should be scoped to a valid region. ';
    if (service !== this.service) faults += `Credential should be scoped to correct service: '${this.service}'. `;
    if (terminator !== TERMINATOR) {
      faults += `Credential should be scoped with a valid terminator: '${TERMINATOR}', not '${clip(terminator)}'. `;
    }
    const day = amzDate.slice(0, 8);
    if (date !== day) {
      faults +=
        'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ' +
        `'${clip(date)}' != '${day}', from '${amzDate}'.`;
    }
    if (faults !== '') throw new KmsError('InvalidSignatureException', faults);
  }

  private checkClock(requestMs: number, amzDate: string): void {
    const now = this.now();
    if (requestMs < now - this.maxSkewMs) {
      throw new KmsError(
        'InvalidSignatureException',
        `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - this.maxSkewMs)} ` +
          `(${formatAmzDate(now)} - ${this.skewLabel})`,
      );
    }
    if (requestMs > now + this.maxSkewMs) {
      throw new KmsError(
        'InvalidSignatureException',
        `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + this.maxSkewMs)} ` +
          `(${formatAmzDate(now)} + ${this.skewLabel})`,
      );
    }
  }

  /**
   * Asks @smithy/signature-v4 for the signature the client should have sent; undefined when the
   * canonical header set would differ from the client's (which can only mismatch).
   *
   * WARNING: `signRequest` adds headers of its own. Each is neutralised here; keep it that way
   * when upgrading the signer (read its dist-es/SignatureV4.js):
   *  - it deletes authorization/date/x-amz-date, then sets x-amz-date from `signingDate`. We pass
   *    the parsed X-Amz-Date, which the client must have signed, and the strict parser guarantees
   *    the signer formats it back to the identical string. A client that signed `date` loses it
   *    here and fails to verify (no AWS SDK signs it).
   *  - x-amz-security-token is added only when the credentials carry a session token; ours never do.
   *  - x-amz-content-sha256 is added only with applyChecksum, which is off. But when the header is
   *    present, the signer trusts its value as the payload hash instead of hashing the body, so a
   *    client-supplied value would let a tampered body through. We always set it to our own hash
   *    of the body (saving the signer a second hash), and list it as unsignable unless the client
   *    signed it, so it is in the canonical headers exactly when the client put it there.
   */
  private async recompute(
    key: AccessKey,
    req: SigV4Request,
    signedNames: readonly string[],
    signedHeaders: string,
    requestMs: number,
  ): Promise<Buffer | undefined> {
    // Null prototype: a client may sign a header called `__proto__`.
    const headers: Record<string, string> = Object.create(null);
    for (const name of signedNames) {
      const value = headerValue(req.headers, name);
      if (value !== undefined) headers[name] = value;
    }
    headers[CONTENT_SHA256] = createHash('sha256').update(req.body).digest('hex');
    const contentShaSigned = signedNames.includes(CONTENT_SHA256);

    const host = headers.host ?? 'localhost';
    const signed = await this.signerFor(key).sign(
      {
        method: req.method,
        protocol: 'https:',
        hostname: host,
        path: req.path,
        query: parseQuery(req.query ?? ''),
        headers,
      },
      {
        signingDate: new Date(requestMs),
        // Include whatever the client chose to sign, even headers the signer normally skips
        // (user-agent, expect, proxy-*, ...).
        signableHeaders: new Set(signedNames),
        unsignableHeaders: contentShaSigned ? undefined : ONLY_CONTENT_SHA256,
      },
    );

    const ours = signed.headers.authorization ?? '';
    const sigAt = ours.lastIndexOf(', Signature=');
    const headersAt = ours.indexOf('SignedHeaders=');
    if (sigAt < 0 || headersAt < 0) return undefined;
    // Belt and braces: the header list in our canonical request must be the client's, verbatim.
    if (ours.slice(headersAt + 'SignedHeaders='.length, sigAt) !== signedHeaders) return undefined;
    return decodeSignature(ours.slice(sigAt + ', Signature='.length));
  }

  private signerFor(key: AccessKey): SignatureV4 {
    const cached = this.signers.get(key.accessKeyId);
    // A rotated secret under the same id gets a fresh signer.
    if (cached !== undefined && cached.secretAccessKey === key.secretAccessKey) return cached.signer;
    const signer = new SignatureV4({
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
      region: this.region,
      service: this.service,
      sha256: Hash.bind(null, 'sha256'),
      applyChecksum: false,
      uriEscapePath: true,
    });
    cacheSigningKeys(signer);
    this.signers.set(key.accessKeyId, { secretAccessKey: key.secretAccessKey, signer });
    return signer;
  }
}

type SigningKeyOf = (credentials: { accessKeyId: string; secretAccessKey: string }, region: string, shortDate: string, service?: string) => Promise<Uint8Array>;

/** A signer's derived keys, one per day/region/service; the day changes, so only the latest few. */
const SIGNING_KEYS_PER_SIGNER = 4;

/**
 * Caches the derived signing key (HMAC chain over date, region, service) on the signer itself.
 * @smithy/signature-v4 caches them module-wide too, but finds its entry by an HMAC of the
 * credentials on every request; one signer serves one access key and secret, so date, region and
 * service are the whole key here. `getSigningKey` is internal to the signer (private in its
 * types): should a later version rename it, this cache is simply not used.
 */
function cacheSigningKeys(signer: SignatureV4): void {
  const internals = signer as unknown as { getSigningKey?: SigningKeyOf };
  const derive = internals.getSigningKey;
  if (typeof derive !== 'function') return;
  const cache = new Map<string, Promise<Uint8Array>>();
  internals.getSigningKey = (credentials, region, shortDate, service) => {
    const id = `${shortDate}/${region}/${service ?? ''}`;
    let key = cache.get(id);
    if (key === undefined) {
      key = derive.call(signer, credentials, region, shortDate, service);
      // A failed derivation is not kept.
      key.catch(() => cache.delete(id));
      if (cache.size >= SIGNING_KEYS_PER_SIGNER) cache.delete(cache.keys().next().value!);
      cache.set(id, key);
    }
    return key;
  };
}

// ---- Authorization header ----------------------------------------------------------------------

interface ParsedAuthorization {
  readonly credential?: string;
  readonly signedHeaders?: string;
  readonly signature?: string;
  /** The header with signature values blanked, clipped: safe to echo in messages. */
  readonly redacted: string;
}

/**
 * `AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/kms/aws4_request, SignedHeaders=a;b,
 * Signature=hex`. Pairs are separated by commas and/or spaces (clients differ); none of the
 * values can contain either. A linear scan: no regular expressions on client input.
 */
function parseAuthorization(header: string): ParsedAuthorization {
  const text = header.trim();
  const space = text.indexOf(' ');
  const algorithm = space < 0 ? text : text.slice(0, space);
  if (algorithm !== ALGORITHM) {
    // Echo the scheme name only when it looks like one; a bare token might be someone's secret.
    const shown = space > 0 && space <= 64 && isSchemeName(algorithm) ? ` '${algorithm}'` : '';
    throw new KmsError(
      'IncompleteSignatureException',
      `Unsupported AWS 'algorithm':${shown} (only ${ALGORITHM} for now). `,
    );
  }

  const params = new Map<string, string>();
  const hidden: Array<[number, number]> = [];
  let i = space < 0 ? text.length : space;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x2c /* , */ || c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    let end = i;
    while (end < text.length) {
      const d = text.charCodeAt(end);
      if (d === 0x2c || d === 0x20 || d === 0x09) break;
      end++;
    }
    const eq = text.indexOf('=', i);
    if (eq < 0 || eq >= end || eq === i) {
      // AWS (API Gateway) also hashes rather than echoes here: the stray token may be the signature.
      const digest = createHash('sha256').update(header).digest('base64');
      throw new KmsError(
        'IncompleteSignatureException',
        `Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): '${digest}'.`,
      );
    }
    const name = text.slice(i, eq);
    const value = text.slice(eq + 1, end);
    if (name.toLowerCase() === 'signature') hidden.push([eq + 1, end]);
    // First occurrence wins; an empty value counts as missing, as in AWS.
    if (!params.has(name) && value !== '') params.set(name, value);
    i = end;
  }

  let redacted = '';
  let from = 0;
  for (const [start, stop] of hidden) {
    redacted += `${text.slice(from, start)}<redacted>`;
    from = stop;
  }
  redacted = clip(redacted + text.slice(from));

  return {
    credential: params.get('Credential'),
    signedHeaders: params.get('SignedHeaders'),
    signature: params.get('Signature'),
    redacted,
  };
}

/** AWS reports every missing piece in one message, then echoes the header (ours: redacted). */
function requireParts(
  auth: ParsedAuthorization,
  headers: SigV4Request['headers'],
): { credential: string; signedHeaders: string; signature: string; amzDate: string } {
  const { credential, signedHeaders, signature } = auth;
  const amzDate = headerValue(headers, 'x-amz-date');
  if (credential !== undefined && signedHeaders !== undefined && signature !== undefined && amzDate !== undefined) {
    return { credential, signedHeaders, signature, amzDate };
  }
  let missing = '';
  if (credential === undefined) missing += "Authorization header requires 'Credential' parameter. ";
  if (signature === undefined) missing += "Authorization header requires 'Signature' parameter. ";
  if (signedHeaders === undefined) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (amzDate === undefined) {
    missing +=
      headerValue(headers, 'date') === undefined
        ? `${MSG_NO_DATE} `
        : "Authorization header requires existence of a 'X-Amz-Date' header; 'Date' is not supported. ";
  }
  throw new KmsError('IncompleteSignatureException', `${missing}Authorization=${auth.redacted}`);
}

function isSchemeName(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f;
    if (!ok) return false;
  }
  return s.length > 0;
}

/** 64 hex digits → 32 bytes; anything else → undefined (cannot match). */
function decodeSignature(hex: string): Buffer | undefined {
  if (hex.length !== 64) return undefined;
  for (let i = 0; i < 64; i++) {
    const c = hex.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
    if (!ok) return undefined;
  }
  return Buffer.from(hex, 'hex');
}

// ---- Dates -------------------------------------------------------------------------------------

/**
 * Strict `yyyymmddThhmmssZ` → epoch ms, or undefined. Strictness matters: the signer re-formats
 * this instant into the canonical request, so it must format back to the very same string
 * (no leap seconds, no 31 February rolling over).
 */
export function parseAmzDate(s: string): number | undefined {
  if (s.length !== 16 || s[8] !== 'T' || s[15] !== 'Z') return undefined;
  for (let i = 0; i < 15; i++) {
    if (i === 8) continue;
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  const year = Number(s.slice(0, 4));
  const month = Number(s.slice(4, 6));
  const day = Number(s.slice(6, 8));
  const hour = Number(s.slice(9, 11));
  const minute = Number(s.slice(11, 13));
  const second = Number(s.slice(13, 15));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC maps years 0–99 to 1900–1999, and rolls 31 February over: reject both.
  return formatAmzDate(ms) === s ? ms : undefined;
}

/** Epoch ms → `yyyymmddThhmmssZ` (milliseconds dropped). */
export function formatAmzDate(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-29T07:10:00.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

// ---- Request pieces ----------------------------------------------------------------------------

/**
 * One header as a string. Own properties only: a client may list any name in SignedHeaders,
 * including `constructor` or `__proto__`. Repeated headers (an array) are comma-joined as SigV4
 * prescribes; note Node already joins most repeats with ", ", which SigV4 clients join with ",".
 */
function headerValue(headers: SigV4Request['headers'], name: string): string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const value = headers[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(',');
}

/**
 * Raw query string → decoded map, which the signer re-encodes in canonical form. A malformed
 * escape is kept as is; it then re-encodes differently and simply fails to verify.
 */
function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    const prior = out[name];
    if (prior === undefined) out[name] = value;
    else if (typeof prior === 'string') out[name] = [prior, value];
    else prior.push(value);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function clip(s: string): string {
  return s.length <= MAX_ECHO ? s : `${s.slice(0, MAX_ECHO)}…`;
}
