/**
 * The certificate store's layout (cert-store.ts header) and the zod schema of every object in it.
 * Each stored JSON object carries a `format` marker, so an object that some other tool wrote is
 * told apart from one of ours; anything that does not parse is WSFLEET_STORE_CORRUPT, naming the
 * key. Parse issues name fields, never values: a version holds a private key.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { StoredObject } from './object-store.ts';
import { StoreError } from './store-error.ts';

export const JSON_TYPE = 'application/json';

const iso = z.iso.datetime({ offset: true });
const pemBlock = (label: RegExp) => z.string().regex(label, 'Invalid PEM block');

export const certificateFields = z.object({
  name: z.string().min(1),
  domains: z.array(z.string().min(1)).min(1),
  certificatePem: pemBlock(/-----BEGIN CERTIFICATE-----/),
  privateKeyPem: pemBlock(/-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  serial: z.string().regex(/^[0-9a-fA-F]{1,64}$/),
  notBefore: iso,
  notAfter: iso,
  issuer: z.string().min(1),
  issuedAt: iso,
  directoryUrl: z.url(),
  /** The ACME account that ordered it (absent in versions stored before it was recorded). */
  accountUrl: z.url().optional(),
  ariCertId: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
});

export const accountFields = z.object({
  directoryUrl: z.url(),
  accountKeyPem: pemBlock(/-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  accountUrl: z.url(),
  email: z.string().min(1).optional(),
  createdAt: iso,
});

/**
 * The renewer's state of one certificate. `RenewerState` is this schema's output type, so a field
 * the renewer writes cannot be left out here (zod strips unknown keys on every write and read).
 */
export const stateFields = z.object({
  lastAttemptAt: iso.optional(),
  lastSuccessAt: iso.optional(),
  lastError: z
    .object({
      code: z.string(),
      message: z.string(),
      at: iso,
      /** The CA refused for a reason a retry cannot fix: not retried until the settings change. */
      permanent: z.boolean().optional(),
    })
    .optional(),
  /** Consecutive failures since the last success (drives the retry schedule). */
  failures: z.number().int().min(0),
  /** No attempt before this time (the retry schedule or the CA's Retry-After), unless forced. */
  nextAttemptAt: iso.optional(),
  /** The settings (directory, names, profile) the last failure happened with: see `settingsKey`. */
  settingsKey: z.string().max(200).optional(),
  /** Times of ACME finalize calls, recorded before each call (the rate guard counts them). */
  finalizedAt: z.array(iso).max(100).optional(),
  /** The directory those calls went to: another CA's limits are its own (staging → production). */
  finalizedWith: z.url().optional(),
  /**
   * The order being finalized, written before the finalize call and removed once its
   * certificate is stored: a renewer that crashed (or lost the store) in between completes this
   * order instead of placing another. Holds a private key: `state/` is readable by the renewer
   * only (README "Certificate store").
   */
  pending: z
    .object({
      orderUrl: z.url(),
      keyPem: pemBlock(/-----BEGIN [A-Z ]*PRIVATE KEY-----/),
      directoryUrl: z.url(),
      domains: z.array(z.string().min(1)).min(1).max(100),
      at: iso,
    })
    .optional(),
});

/** The renewer's state of one certificate, exactly as stored (see `stateFields`). */
export type RenewerState = Readonly<z.output<typeof stateFields>>;

export const schemas = {
  version: certificateFields.extend({ format: z.literal('wsfleet.cert-version/1') }),
  current: z.object({
    format: z.literal('wsfleet.cert-current/1'),
    version: z.string().min(1),
    serial: z.string().min(1),
    notAfter: iso,
  }),
  account: accountFields.extend({ format: z.literal('wsfleet.acme-account/1') }),
  lock: z.object({ format: z.literal('wsfleet.cert-lock/1'), owner: z.string().min(1), expiresAt: iso }),
  state: stateFields.extend({ format: z.literal('wsfleet.renewer-state/1'), name: z.string().min(1) }),
};

/** `2025-03-01T12:00:00.000Z` → `20250301T120000000Z`: sorts by time as text. */
function compactTime(isoTime: string): string {
  return new Date(isoTime).toISOString().replace(/[-:.]/g, '');
}

const VERSION_FILE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-([0-9a-f]{1,64})\.json$/;

export const layout = {
  current: (name: string) => `certs/${name}/current`,
  versions: (name: string) => `certs/${name}/versions/`,
  version: (name: string, issuedAt: string, serial: string) =>
    `certs/${name}/versions/${compactTime(issuedAt)}-${serial.toLowerCase()}.json`,
  account: (directoryUrl: string) =>
    `accounts/${createHash('sha256').update(directoryUrl).digest('hex')}.json`,
  lock: (name: string) => `locks/${name}`,
  state: (name: string) => `state/${name}.json`,
  challenge: (token: string) => `challenges/${token}`,
};

/** The time and serial a version key of `name` encodes, or undefined if it is not one. */
export function parseVersionKey(name: string, key: string): { issuedAt: string; serial: string } | undefined {
  const folder = layout.versions(name);
  if (!key.startsWith(folder)) return undefined;
  const m = VERSION_FILE.exec(key.slice(folder.length));
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, ms, serial] = m;
  const issuedAt = `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
  if (Number.isNaN(Date.parse(issuedAt)) || serial === undefined) return undefined;
  return { issuedAt, serial };
}

// Lower-case DNS names, optionally a leading wildcard label: they become one key segment each.
const NAME = /^(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function checkName(name: string, url: string): void {
  if (name.length > 253 || !NAME.test(name))
    throw new StoreError(
      'WSFLEET_STORE_INVALID',
      `Certificate name ${JSON.stringify(name)} is not a lower-case DNS name`,
      {
        url,
        cause: { name },
      },
    );
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

export function corrupt(url: string, key: string, why: string, cause: unknown): StoreError {
  return new StoreError('WSFLEET_STORE_CORRUPT', `The object ${why}; it is left as it is`, {
    url,
    key,
    cause,
  });
}

/** Parses a stored object with `schema`, or throws WSFLEET_STORE_CORRUPT naming its key. */
export function decodeRecord<S extends z.ZodType>(schema: S, object: StoredObject, url: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(object.data.toString('utf8'));
  } catch (err) {
    throw corrupt(url, object.key, 'is not JSON', err);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw corrupt(url, object.key, `is not a wsfleet record (${issues(parsed.error)})`, parsed.error);
  return parsed.data;
}

/** Checks a record before it is written, or throws WSFLEET_STORE_INVALID. */
export function checkRecord<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  url: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new StoreError('WSFLEET_STORE_INVALID', `Refusing to store ${what}: ${issues(parsed.error)}`, {
      url,
      cause: parsed.error,
    });
  return parsed.data;
}

export function encodeRecord(record: object): Buffer {
  return Buffer.from(`${JSON.stringify(record)}\n`);
}
