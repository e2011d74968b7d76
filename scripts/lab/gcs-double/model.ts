/**
 * The state behind the GCS double: buckets of objects with generations and metagenerations, the
 * JSON API's preconditions and listing, and its error bodies. Behaviour follows the JSON API
 * reference and Google's storage-testbench: a generation is unique per bucket and never reused;
 * `ifGenerationMatch=0` means "must not exist"; `if*NotMatch` that fails answers 304 on reads and
 * 412 on writes; a missing object answers 404 before any precondition is looked at.
 */
import { createHash } from 'node:crypto';

export class GcsHttpError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly location: { readonly locationType: string; readonly location: string } | undefined;

  constructor(
    status: number,
    reason: string,
    message: string,
    location?: { locationType: string; location: string },
  ) {
    super(message);
    this.name = 'GcsHttpError';
    this.status = status;
    this.reason = reason;
    this.location = location;
  }

  /** The body GCS sends with an error. */
  body(): unknown {
    const detail = { message: this.message, domain: 'global', reason: this.reason, ...this.location };
    return { error: { code: this.status, message: this.message, errors: [detail] } };
  }
}

const PRECONDITION_FAILED = 'At least one of the pre-conditions you specified did not hold.';

export const errors = {
  invalid: (message: string) => new GcsHttpError(400, 'invalid', message),
  noBucket: () => new GcsHttpError(404, 'notFound', 'The specified bucket does not exist.'),
  noObject: (bucket: string, name: string) =>
    new GcsHttpError(404, 'notFound', `No such object: ${bucket}/${name}`),
  precondition: () =>
    new GcsHttpError(412, 'conditionNotMet', PRECONDITION_FAILED, {
      locationType: 'header',
      location: 'If-Match',
    }),
  notModified: () => new GcsHttpError(304, 'notModified', 'Not Modified'),
};

export interface DoubleObject {
  readonly bucket: string;
  readonly name: string;
  readonly data: Buffer;
  readonly generation: string;
  readonly metageneration: string;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly timeCreated: string;
  readonly updated: string;
  readonly md5Hash: string;
  readonly crc32c: string;
}

export interface Preconditions {
  readonly ifGenerationMatch?: bigint;
  readonly ifGenerationNotMatch?: bigint;
  readonly ifMetagenerationMatch?: bigint;
  readonly ifMetagenerationNotMatch?: bigint;
}

const PRECONDITION_PARAMS = [
  'ifGenerationMatch',
  'ifGenerationNotMatch',
  'ifMetagenerationMatch',
  'ifMetagenerationNotMatch',
] as const;

export function readPreconditions(query: URLSearchParams): Preconditions {
  const pre: Record<string, bigint> = {};
  for (const param of PRECONDITION_PARAMS) {
    const value = query.get(param);
    if (value === null) continue;
    if (!/^[0-9]+$/.test(value)) throw errors.invalid(`Invalid value for ${param}: ${value}`);
    pre[param] = BigInt(value);
  }
  return pre;
}

/** Throws unless `live` satisfies `pre`; `read` selects 304 over 412 for failed *NotMatch. */
export function checkPreconditions(pre: Preconditions, live: DoubleObject | undefined, read: boolean): void {
  const generation = live === undefined ? 0n : BigInt(live.generation);
  const metageneration = live === undefined ? undefined : BigInt(live.metageneration);
  const notMatched = () => (read ? errors.notModified() : errors.precondition());
  if (pre.ifGenerationMatch !== undefined && pre.ifGenerationMatch !== generation)
    throw errors.precondition();
  if (pre.ifGenerationNotMatch !== undefined) {
    const ok = pre.ifGenerationNotMatch === 0n ? live !== undefined : pre.ifGenerationNotMatch !== generation;
    if (!ok) throw notMatched();
  }
  if (pre.ifMetagenerationMatch !== undefined) {
    const ok =
      pre.ifMetagenerationMatch === 0n ? live === undefined : pre.ifMetagenerationMatch === metageneration;
    if (!ok) throw errors.precondition();
  }
  if (pre.ifMetagenerationNotMatch !== undefined) {
    const ok =
      pre.ifMetagenerationNotMatch === 0n
        ? live !== undefined
        : pre.ifMetagenerationNotMatch !== metageneration;
    if (!ok) throw notMatched();
  }
}

// CRC32C (Castagnoli), reflected, as GCS reports it: base64 of the big-endian 32-bit value.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Buffer): string {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

/** GCS's object name rules: 1–1024 bytes of UTF-8, no CR or LF, not `.` or `..`. */
export function checkObjectName(name: string | undefined | null): string {
  if (name === undefined || name === null || name === '') throw new GcsHttpError(400, 'required', 'Required');
  if (Buffer.byteLength(name) > 1024 || /[\r\n]/.test(name) || name === '.' || name === '..')
    throw errors.invalid(`The specified object name is not valid: ${JSON.stringify(name)}`);
  return name;
}

/** Checks hashes a client declared against the data received (400 on mismatch, as GCS). */
export function checkDeclaredHashes(data: Buffer, declared: { md5Hash?: unknown; crc32c?: unknown }): void {
  if (typeof declared.md5Hash === 'string' && declared.md5Hash !== md5(data))
    throw errors.invalid(
      `Provided MD5 hash "${declared.md5Hash}" doesn't match calculated MD5 hash "${md5(data)}".`,
    );
  if (typeof declared.crc32c === 'string' && declared.crc32c !== crc32c(data))
    throw errors.invalid(
      `Provided CRC32C "${declared.crc32c}" doesn't match calculated CRC32C "${crc32c(data)}".`,
    );
}

/** The JSON object resource, with links rooted at `base` (the double's origin). */
export function objectResource(o: DoubleObject, base: string): Record<string, unknown> {
  const path = `b/${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.name)}`;
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/${path}`,
    mediaLink: `${base}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: o.metageneration,
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.data.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64'),
    timeCreated: o.timeCreated,
    updated: o.updated,
    timeStorageClassUpdated: o.timeCreated,
    ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
  };
}
