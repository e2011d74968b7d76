/**
 * The upload protocols of the GCS double (JSON API objects.insert): `multipart/related` bodies,
 * and resumable sessions. Initiation answers a session URI in `Location`; the data follows in one
 * or more PUTs whose Content-Range is `bytes A-B/T` (T is `*` while the size is unknown), an
 * open-ended `bytes A-*` over T for the rest of the object, or just `*` over T to ask how far the
 * upload got. An unfinished upload answers 308 with `Range: bytes=0-N`; of a chunk that does not
 * end the upload only whole 256 KiB units are kept, as in GCS. Metadata and preconditions given
 * at initiation apply when the upload completes.
 */
import { randomBytes } from 'node:crypto';
import type { DoubleBuckets } from './buckets.ts';
import { type DoubleObject, errors, GcsHttpError, type Preconditions } from './model.ts';

export const CHUNK_UNIT = 256 * 1024;

export interface Part {
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/** Splits a multipart/related body into its parts. */
export function parseMultipart(body: Buffer, contentType: string | undefined): Part[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType ?? '')?.[1];
  if (boundary === undefined) throw errors.invalid('Missing multipart boundary.');
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  if (at === -1) throw errors.invalid('Multipart body has no parts.');
  for (;;) {
    let start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') return parts;
    if (body.subarray(start, start + 2).toString() === '\r\n') start += 2;
    const end = body.indexOf(next, start);
    if (end === -1) throw errors.invalid('Multipart body is not terminated.');
    const part = body.subarray(start, end);
    const headerEnd = part.indexOf('\r\n\r\n');
    const head = headerEnd === -1 ? '' : part.subarray(0, headerEnd).toString('latin1');
    const type = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim();
    parts.push({ contentType: type, body: part.subarray(headerEnd === -1 ? 0 : headerEnd + 4) });
    at = end + 2;
  }
}

interface Session {
  readonly id: string;
  readonly bucket: string;
  readonly name: string;
  readonly metadata: Record<string, unknown>;
  readonly contentType: string | undefined;
  readonly pre: Preconditions;
  received: Buffer;
  total: number | undefined;
  result: DoubleObject | undefined;
}

export type ChunkResult =
  | { readonly status: 308; readonly persisted: number }
  | { readonly status: 200; readonly object: DoubleObject };

// `bytes A-B/T`, `bytes A-*/T`, `bytes */T`, with T a number or `*`.
const RANGE = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/;

export class ResumableUploads {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly buckets: DoubleBuckets) {}

  /** Starts a session; answers its id. */
  start(
    bucket: string,
    name: string | undefined,
    metadata: Record<string, unknown>,
    contentType: string | undefined,
    pre: Preconditions,
  ): string {
    this.buckets.bucket(bucket);
    const finalName = name ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
    if (name !== undefined && typeof metadata.name === 'string' && metadata.name !== name)
      throw errors.invalid(`Value '${metadata.name}' in content does not agree with value '${name}'.`);
    if (finalName === undefined || finalName === '') throw new GcsHttpError(400, 'required', 'Required');
    const id = randomBytes(16).toString('hex');
    this.sessions.set(id, {
      id,
      bucket,
      name: finalName,
      metadata,
      contentType,
      pre,
      received: Buffer.alloc(0),
      total: undefined,
      result: undefined,
    });
    return id;
  }

  cancel(id: string): void {
    if (!this.sessions.delete(id)) throw new GcsHttpError(404, 'notFound', 'No such upload session.');
  }

  /** Takes one PUT of a session. */
  put(id: string, contentRange: string | undefined, body: Buffer): ChunkResult {
    const session = this.sessions.get(id);
    if (session === undefined) throw new GcsHttpError(404, 'notFound', 'No such upload session.');
    if (session.result !== undefined) return { status: 200, object: session.result };
    const range = contentRange === undefined ? `bytes 0-*/${body.length}` : contentRange;
    const m = RANGE.exec(range.trim());
    if (m === null) throw errors.invalid(`Invalid Content-Range: ${range}`);
    const [, first, last, totalText] = m;
    if (totalText !== '*') session.total = Number(totalText);
    if (first !== undefined)
      this.append(session, Number(first), last === '*' ? undefined : Number(last), body);
    else if (body.length > 0) throw errors.invalid('A status query carries no data.');
    const persisted = session.received.length;
    const final =
      session.total !== undefined ? persisted >= session.total : first !== undefined && last === '*';
    if (session.total !== undefined && persisted > session.total)
      throw errors.invalid(`Received ${persisted} bytes, more than the declared ${session.total}.`);
    if (!final) return { status: 308, persisted };
    session.result = this.buckets.insert(
      session.bucket,
      session.name,
      {
        data: session.received,
        contentType:
          (typeof session.metadata.contentType === 'string' && session.metadata.contentType) ||
          session.contentType,
        metadata: session.metadata.metadata as Record<string, string> | undefined,
        md5Hash: session.metadata.md5Hash,
        crc32c: session.metadata.crc32c,
      },
      session.pre,
    );
    return { status: 200, object: session.result };
  }

  private append(session: Session, first: number, last: number | undefined, body: Buffer): void {
    if (last !== undefined && last - first + 1 !== body.length)
      throw errors.invalid(`Content-Range says ${last - first + 1} bytes, the body has ${body.length}.`);
    const have = session.received.length;
    if (first > have) throw errors.invalid(`Chunk starts at ${first}, but only ${have} bytes were received.`);
    let joined = Buffer.concat([session.received, body.subarray(have - first)]);
    const isFinal = last === undefined || (session.total !== undefined && joined.length >= session.total);
    // GCS keeps whole 256 KiB units of a chunk that does not end the upload.
    if (!isFinal) joined = joined.subarray(0, joined.length - (joined.length % CHUNK_UNIT));
    session.received = joined;
  }
}
