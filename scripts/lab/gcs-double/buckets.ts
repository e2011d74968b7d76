/**
 * The buckets of the GCS double and the object operations on them: insert, get, patch, delete
 * and list (prefix, delimiter, startOffset/endOffset, maxResults + pageToken pagination), each
 * with the JSON API's preconditions. Generations are microseconds since the epoch like GCS's,
 * raised past the last one so they are unique in the bucket and never reused.
 */
import {
  checkDeclaredHashes,
  checkObjectName,
  checkPreconditions,
  crc32c,
  type DoubleObject,
  errors,
  md5,
  type Preconditions,
} from './model.ts';

export interface NewObject {
  readonly data: Buffer;
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /** Hashes the client declared; a mismatch is refused. */
  readonly md5Hash?: unknown;
  readonly crc32c?: unknown;
}

export interface ListQuery {
  readonly prefix?: string;
  readonly delimiter?: string;
  readonly startOffset?: string;
  readonly endOffset?: string;
  readonly maxResults?: number;
  readonly pageToken?: string;
}

export interface ListPage {
  readonly items: DoubleObject[];
  readonly prefixes: string[];
  readonly nextPageToken?: string;
}

/** The API's cap on maxResults. */
export const MAX_RESULTS = 1000;

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class DoubleBuckets {
  /** Every live object, by `bucket/name`. */
  readonly objects = new Map<string, DoubleObject>();
  readonly names: ReadonlySet<string>;
  readonly created = new Date().toISOString();
  private lastGeneration = 0n;

  constructor(names: Iterable<string>) {
    this.names = new Set(names);
  }

  bucket(name: string): void {
    if (!this.names.has(name)) throw errors.noBucket();
  }

  live(bucket: string, name: string): DoubleObject | undefined {
    return this.objects.get(`${bucket}/${name}`);
  }

  private nextGeneration(): string {
    const micros = BigInt(Date.now()) * 1000n;
    this.lastGeneration = micros > this.lastGeneration ? micros : this.lastGeneration + 1n;
    return this.lastGeneration.toString();
  }

  insert(bucket: string, rawName: string | undefined, input: NewObject, pre: Preconditions): DoubleObject {
    this.bucket(bucket);
    const name = checkObjectName(rawName);
    checkDeclaredHashes(input.data, input);
    checkPreconditions(pre, this.live(bucket, name), false);
    const now = new Date().toISOString();
    const object: DoubleObject = {
      bucket,
      name,
      data: Buffer.from(input.data),
      generation: this.nextGeneration(),
      metageneration: '1',
      contentType: input.contentType ?? 'application/octet-stream',
      metadata: input.metadata,
      timeCreated: now,
      updated: now,
      md5Hash: md5(input.data),
      crc32c: crc32c(input.data),
    };
    this.objects.set(`${bucket}/${name}`, object);
    return object;
  }

  /** The live object, or the one of `generation` if that is the live one (no versioning). */
  get(bucket: string, name: string, generation: string | null, pre: Preconditions): DoubleObject {
    this.bucket(bucket);
    const live = this.live(bucket, name);
    if (live === undefined || (generation !== null && generation !== live.generation))
      throw errors.noObject(bucket, name);
    checkPreconditions(pre, live, true);
    return live;
  }

  patch(
    bucket: string,
    name: string,
    changes: { contentType?: unknown; metadata?: unknown },
    pre: Preconditions,
  ): DoubleObject {
    this.bucket(bucket);
    const live = this.live(bucket, name);
    if (live === undefined) throw errors.noObject(bucket, name);
    checkPreconditions(pre, live, false);
    const metadata = { ...live.metadata };
    if (typeof changes.metadata === 'object' && changes.metadata !== null) {
      for (const [k, v] of Object.entries(changes.metadata)) {
        if (v === null) delete metadata[k];
        else metadata[k] = String(v);
      }
    }
    const patched: DoubleObject = {
      ...live,
      contentType: typeof changes.contentType === 'string' ? changes.contentType : live.contentType,
      metadata: Object.keys(metadata).length === 0 ? undefined : metadata,
      metageneration: String(BigInt(live.metageneration) + 1n),
      updated: new Date().toISOString(),
    };
    this.objects.set(`${bucket}/${name}`, patched);
    return patched;
  }

  delete(bucket: string, name: string, generation: string | null, pre: Preconditions): void {
    this.bucket(bucket);
    const live = this.live(bucket, name);
    if (live === undefined || (generation !== null && generation !== live.generation))
      throw errors.noObject(bucket, name);
    checkPreconditions(pre, live, false);
    this.objects.delete(`${bucket}/${name}`);
  }

  /**
   * One page of a listing. Entries are objects and, with a delimiter, the collapsed prefixes;
   * both count against maxResults, as in GCS. The page token is the last entry returned.
   */
  list(bucket: string, query: ListQuery): ListPage {
    this.bucket(bucket);
    const prefix = query.prefix ?? '';
    const names = [...this.objects.values()]
      .filter((o) => o.bucket === bucket && o.name.startsWith(prefix))
      .filter((o) => query.startOffset === undefined || byBytes(o.name, query.startOffset) >= 0)
      .filter((o) => query.endOffset === undefined || byBytes(o.name, query.endOffset) < 0)
      .sort((a, b) => byBytes(a.name, b.name));
    const entries: { key: string; object?: DoubleObject }[] = [];
    for (const object of names) {
      const cut = query.delimiter ? object.name.indexOf(query.delimiter, prefix.length) : -1;
      if (cut === -1) {
        entries.push({ key: object.name, object });
        continue;
      }
      const collapsed = object.name.slice(0, cut + (query.delimiter?.length ?? 0));
      if (entries[entries.length - 1]?.key !== collapsed) entries.push({ key: collapsed });
    }
    let start = 0;
    if (query.pageToken !== undefined) {
      const after = Buffer.from(query.pageToken, 'base64url').toString('utf8');
      start = entries.findIndex((e) => byBytes(e.key, after) > 0);
      if (start === -1) start = entries.length;
    }
    const size = Math.min(query.maxResults ?? MAX_RESULTS, MAX_RESULTS);
    const page = entries.slice(start, start + size);
    const last = page[page.length - 1];
    const more = start + size < entries.length && last !== undefined;
    return {
      items: page.flatMap((e) => (e.object === undefined ? [] : [e.object])),
      prefixes: page.flatMap((e) => (e.object === undefined ? [e.key] : [])),
      ...(more ? { nextPageToken: Buffer.from(last.key).toString('base64url') } : {}),
    };
  }
}
