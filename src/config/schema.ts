// The ONE schema for keybridge's configuration. Parsed once at start (load.ts), then frozen.
// Secrets are never inline: a secret is a reference to a file or an environment variable.

import { z } from 'zod';

export const secretRef = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().min(1) }).strict(),
]);
export type SecretRef = z.infer<typeof secretRef>;

/** A vendor profile: an HSM's quirks as data (hsm-config/profiles/*.json). */
export const vendorProfileSchema = z.object({
  comment: z.string().optional(),
  name: z.string().min(1),
  ivGeneration: z.enum(['caller', 'hsm']),
  defaultMaxSessions: z.number().int().min(1).max(1024),
  badTagCkrs: z.array(z.string().regex(/^CKR_[A-Z0-9_]+$/)),
  acquireTimeoutMs: z.number().int().min(1),
  validateAfterIdleMs: z.number().int().min(0),
  reinitializeOnTokenLoss: z.boolean().optional(),
  retryObjectCreationOn: z.array(z.string().regex(/^CKR_[A-Z0-9_]+$/)).optional(),
});

/** How an HSM cluster's members are checked, taken out and brought back (a cluster's `health`). */
export const memberHealthSchema = z
  .object({
    /** Period of the deep check (encrypt + decrypt under each member's canary key). 0 = off. */
    intervalMs: z.number().int().min(0).default(5000),
    /** Deadline for one call on one member; past it the member is taken out. */
    callTimeoutMs: z.number().int().min(1).default(2000),
    /** Deep checks slower than this leave the member DEGRADED. */
    slowCheckMs: z.number().int().min(1).default(250),
    /** Failures in a row that trip a member's circuit breaker. */
    failuresToTrip: z.number().int().min(1).default(3),
    /** Ceiling of the backoff between attempts to bring an UNAVAILABLE member back (never given up). */
    maxRetryIntervalMs: z.number().int().min(1).default(30_000),
  })
  .strict()
  .prefault({});

/** How a key store's new symmetric material encrypts: a suite, or `auto` (GCM where the token has it). */
export const symmetricSuiteSetting = z.enum(['auto', 'AES_256_GCM', 'AES_256_CBC_HMAC_SHA_256']).default('auto');

/** One HSM of a cluster (hsm-config/clusters/*.json). */
export const clusterMemberSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]{1,32}$/),
    module: z.string().min(1),
    tokenLabel: z.string().min(1).max(32),
    tokenSerial: z.string().min(1).max(16).optional(),
    profile: z.string().regex(/^[a-z0-9-]+$/).default('softhsm2'),
  })
  .strict();

/** A cluster a custom key store can be connected to: data, validated at start. */
export const clusterSchema = z
  .object({
    comment: z.string().optional(),
    /** AWS's format, so AWS clients accept it: cluster- + 11–16 of [2-7a-zA-Z]. */
    clusterId: z.string().regex(/^cluster-[2-7a-zA-Z]{11,16}$/),
    members: z.array(clusterMemberSchema).min(1).max(32),
    /** PEM file (relative to the definition) that CreateCustomKeyStore's TrustAnchorCertificate must match. */
    trustAnchorCertificateFile: z.string().min(1).optional(),
    /** Members that must be reachable to connect (AWS: one active HSM). */
    minActiveMembersToConnect: z.number().int().min(1).default(1),
    /** Members that must be active for CreateKey (AWS: two HSMs). */
    minActiveMembersForCreateKey: z.number().int().min(1).default(2),
    /**
     * Example clusters only: `npm start` creates the members' SoftHSM2 tokens under the data
     * directory, with the crypto-user PIN in <dataDir>/pins/<clusterId>.pin (mode 0600).
     */
    embeddedSoftHsm: z.boolean().default(false),
    /**
     * How keys reach every member. `vendor`: the HSM product replicates (CloudHSM, Luna HA,
     * nShield). `keybridge`: keybridge copies each new key, wrapped under the trusted wrapping key
     * the SO installs with `keybridge cluster init` (SoftHSM2; not YubiHSM 2, which has no CKA_TRUSTED).
     */
    replication: z.enum(['vendor', 'keybridge']).default('vendor'),
    /** `keybridge` mode: members that must hold a new key for CreateKey to succeed (default: every usable member). */
    replicationQuorum: z.number().int().min(1).optional(),
    /**
     * How new symmetric key material encrypts (docs/ciphertext-format.md). `auto`: AES-256-GCM where
     * the members' tokens have it, AES-256-CBC + HMAC-SHA-256 (both in the HSM) otherwise.
     */
    symmetricSuite: symmetricSuiteSetting,
    /** Requests per second across the store; beyond it ThrottlingException (AWS: 1,800). 0 = no quota. */
    requestsPerSecond: z.number().int().min(0).default(1800),
    /** Calls in flight per member before ThrottlingException (default: 4 × its session limit). */
    maxOutstandingPerMember: z.number().int().min(1).optional(),
    health: memberHealthSchema,
  })
  .strict()
  .refine((c) => new Set(c.members.map((m) => m.name)).size === c.members.length, { message: 'member names must be unique', path: ['members'] })
  .refine((c) => c.replicationQuorum === undefined || c.replicationQuorum <= c.members.length, {
    message: 'replicationQuorum cannot exceed the number of members',
    path: ['replicationQuorum'],
  });
export type ClusterDefinition = z.infer<typeof clusterSchema>;

/** The PKCS#11 token that holds the default key store's backing keys. */
export const tokenConfig = z.object({
  module: z.string().min(1),
  tokenLabel: z.string().min(1).max(32),
  userPin: secretRef,
  profile: z.string().regex(/^[a-z0-9-]+$/).default('softhsm2'),
  maxSessions: z.number().int().min(1).max(1024).optional(),
  acquireTimeoutMs: z.number().int().min(1).optional(),
});
export type TokenConfig = z.infer<typeof tokenConfig>;

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** A condition's patterns: one string or a list, as IAM conditions take them; always a list after parsing. */
const xksPatterns = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((value) => (typeof value === 'string' ? [value] : value));

/** One allow rule of the XKS proxy's secondary authorization (src/xks/secondary-authorization.ts). */
const xksAuthorizationRule = z
  .object({
    comment: z.string().optional(),
    uriPath: xksPatterns.optional(),
    operations: z
      .union([z.enum(['GetKeyMetadata', 'Encrypt', 'Decrypt']), z.array(z.enum(['GetKeyMetadata', 'Encrypt', 'Decrypt'])).min(1)])
      .transform((value) => (typeof value === 'string' ? [value] : value))
      .optional(),
    awsPrincipalArn: xksPatterns.optional(),
    kmsKeyArn: xksPatterns.optional(),
    kmsOperation: xksPatterns.optional(),
    awsSourceVpc: xksPatterns.optional(),
    awsSourceVpce: xksPatterns.optional(),
    kmsViaService: xksPatterns.optional(),
  })
  .strict();

/** keybridge as an XKS proxy for AWS KMS (docs/xks.md): a second listener. */
export const xksProxyConfig = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 = a free port (tests). */
    port: z.number().int().min(0).max(65535).default(4600),
    /** Plain HTTP instead of TLS: only for tests on a loopback host. */
    plainHttp: z.boolean().default(false),
    tls: z
      .object({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** Mutual TLS: AWS KMS's client certificate (CN cks.kms.<region>.amazonaws.com, Amazon Trust Services). */
        clientCertificate: z.object({ caFile: z.string().min(1), subject: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .optional(),
    /** The region in AWS KMS's SigV4 scope: the region of the KMS that uses this proxy. Default: `region`. */
    region: z.string().regex(REGION).optional(),
    /** How long a health round trip answers GetHealthStatus (the spec: at most one minute). */
    healthCacheSeconds: z.number().int().min(1).max(60).default(30),
    /** Optional secondary authorization: allow rules on requestMetadata; absent = none. */
    secondaryAuthorization: z.object({ rules: z.array(xksAuthorizationRule) }).strict().optional(),
  })
  .strict()
  .superRefine((xks, ctx) => {
    if (!xks.enabled) return;
    if (xks.plainHttp && !isLoopbackHost(xks.host)) {
      ctx.addIssue({ code: 'custom', path: ['plainHttp'], message: 'plain HTTP is allowed only on a loopback host (127.0.0.0/8, ::1, localhost)' });
    }
    if (!xks.plainHttp && xks.tls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'required: AWS KMS reaches an XKS proxy only over HTTPS (plainHttp is for loopback tests)' });
    }
  })
  .prefault({});

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Where the metadata lives: SQLite in the data directory (one node, the default), or a PostgreSQL
 * database that several nodes share (docs/multi-node.md).
 */
export const storeConfig = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('sqlite'),
      /** Default <dataDir>/keybridge.db. */
      path: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('postgres'),
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(1).max(65535).default(5432),
      database: z.string().min(1).default('keybridge'),
      user: z.string().min(1).default('keybridge'),
      /** The user's password (a file or an environment variable); absent for trust or peer authentication. */
      password: secretRef.optional(),
      /** TLS to the server, verified against these CA certificates (PEM file) or Node's public roots. */
      tls: z.object({ caFile: z.string().min(1).optional() }).strict().optional(),
      /** Connections each node keeps at most. */
      maxConnections: z.number().int().min(1).max(1000).default(10),
      /** Time to get a connection before a request fails (a server down answers in this time). */
      connectTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
      /** Time one statement may take. */
      queryTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
    })
    .strict(),
]);

export const configSchema = z
  .object({
    /** Holds the embedded token, the SQLite database and the credentials file. */
    dataDir: z.string().min(1).default('./data'),
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(4599),
        tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .prefault({}),
    partition: z.string().regex(/^aws(-[a-z]+)*$/).default('aws'),
    region: z.string().regex(REGION).default('us-east-1'),
    accountId: z.string().regex(/^\d{12}$/).default('111122223333'),
    /**
     * When true, keybridge creates and uses a SoftHSM2 token and a credentials file under dataDir
     * (the two-command quick start). When false, defaultKeyStore and credentialsFile are required.
     */
    embedded: z.boolean().default(true),
    defaultKeyStore: tokenConfig.optional(),
    /** The default key store's token, checked and brought back like a custom key store's member. */
    defaultKeyStoreHealth: memberHealthSchema,
    /** The default key store's symmetric suite (a cluster's `symmetricSuite`): `auto` unless a test or an HSM needs otherwise. */
    defaultKeyStoreSymmetricSuite: symmetricSuiteSetting,
    credentialsFile: z.string().min(1).optional(),
    /** The credentials-file profile whose access key the operator uses. */
    credentialsProfile: z.string().min(1).default('keybridge'),
    store: storeConfig.prefault({ kind: 'sqlite' }),
    /**
     * Node processes on this machine sharing the listening ports (src/workers.ts); `--workers N`
     * overrides. Default: one per core with the PostgreSQL store, 1 with SQLite (which serves one node).
     */
    workers: z.number().int().min(1).max(256).optional(),
    softhsmModule: z.string().min(1).default('/usr/lib/softhsm/libsofthsm2.so'),
    /**
     * HSM calls the embedded token runs at once: its executor's worker threads, each with a work
     * session and a login anchor (the vendor profile's defaultMaxSessions, 8 for SoftHSM2, when
     * absent). Raise it when the module behind softhsmModule adds latency per call.
     */
    embeddedMaxSessions: z.number().int().min(1).max(1024).optional(),
    profilesDir: z.string().min(1).optional(),
    /** Cluster definitions for custom key stores; hsm-config/clusters of the installation by default. */
    clustersDir: z.string().min(1).optional(),
    /**
     * Where KeybridgeAdmin.CreateBackup writes (one new directory per backup, named by the caller
     * or by the time); <dataDir>/backups by default. Callers never choose a path outside it.
     */
    backupDirectory: z.string().min(1).optional(),
    deletionSweepIntervalMs: z.number().int().min(1000).default(60_000),
    maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
    /** RotateKeyOnDemand calls allowed per key (AWS: 25, not adjustable there). */
    maxOnDemandRotationsPerKey: z.number().int().min(1).default(25),
    /** How often the rotation scheduler looks for keys whose automatic rotation is due. */
    rotationCheckIntervalMs: z.number().int().min(1000).default(60_000),
    /** Accepted distance between a request's X-Amz-Date and our clock; AWS JSON services allow 5 minutes. */
    signatureMaxSkewMinutes: z.number().int().min(1).max(60).default(5),
    /** The CloudTrail-shaped audit trail (docs/audit.md). */
    audit: z
      .object({
        /** Default <dataDir>/audit.db. */
        path: z.string().min(1).optional(),
        digestIntervalSeconds: z.number().int().min(1).max(86_400).default(300), // seconds between signed audit digests (docs/audit.md)
        retention: z
          .object({
            /** Records older than this are pruned (CloudTrail's event history keeps 90 days). */
            maxAgeDays: z.number().int().min(1).default(90),
            /** At most this many records are kept. */
            maxRecords: z.number().int().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** The web console at /console on the KMS listener (docs/console.md); `enabled: false` serves none. */
    console: z.object({ enabled: z.boolean().default(true) }).strict().prefault({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    xksProxy: xksProxyConfig,
    /** keybridge as an XKS client: custom key stores of type EXTERNAL_KEY_STORE (docs/xks.md). */
    externalKeyStores: z
      .object({
        /**
         * The port keybridge connects to at every XksProxyUriEndpoint. AWS KMS always uses 443 and
         * its endpoint pattern has no port; another value is for labs and tests.
         */
        proxyPort: z.number().int().min(1).max(65535).default(443),
        /** Deadline of one proxy call, connection included (AWS KMS: 250 ms). */
        proxyTimeoutMs: z.number().int().min(1).max(60_000).default(250),
        /** PEM file of CA certificates trusted for proxies besides Node's public roots (a private CA). */
        trustedCaFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** Log destination; standard output when absent. */
    logFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.workers !== undefined && config.workers > 1 && config.store.kind !== 'postgres') {
      ctx.addIssue({ code: 'custom', path: ['workers'], message: 'above 1 needs the PostgreSQL store (store.kind "postgres"): SQLite serves one node' });
    }
    if (!config.embedded && !config.defaultKeyStore) {
      ctx.addIssue({ code: 'custom', path: ['defaultKeyStore'], message: 'required when embedded is false' });
    }
    if (!config.embedded && !config.credentialsFile) {
      ctx.addIssue({ code: 'custom', path: ['credentialsFile'], message: 'required when embedded is false' });
    }
  });

export type Config = z.infer<typeof configSchema>;
