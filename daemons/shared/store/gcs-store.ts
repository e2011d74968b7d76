/**
 * The object store on Google Cloud Storage (`gs://bucket/prefix`), through @google-cloud/storage.
 * GCS gives the contract directly: every write makes a new generation, `ifGenerationMatch`
 * guards writes and deletes, an upload replaces an object whole.
 *
 * Failure is bounded: each HTTP request times out after `requestTimeoutMs`, the client retries
 * transient failures (429, 5xx, resets) at most `retry.maxRetries` times with capped exponential
 * delays, and a whole operation gives up after `deadlineMs` with WSFLEET_STORE_UNAVAILABLE.
 * Uploads carry their MD5 and CRC32C in the metadata so that GCS itself refuses a damaged upload;
 * the client's own after-the-fact check is off because on a mismatch it deletes the object
 * without a precondition, possibly removing a newer generation.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CRC32C, type FileMetadata, IdempotencyStrategy, Storage } from '@google-cloud/storage';
import { statusOf, toStoreError, withDeadline } from './gcs-errors.ts';
import { checkKey, checkPrefix, compareKeys } from './keys.ts';
import type { ObjectMeta, ObjectStore, StoredObject } from './object-store.ts';
import { StoreError } from './store-error.ts';

export interface GcsRetryOptions {
  /** Retries of a failed request (default 3; 0 turns retries off). */
  readonly maxRetries?: number;
  /**
   * Longest wait between two attempts (default 2 s, at least 1 s: the client's upload retry waits
   * a fixed 1 s minimum and refuses a smaller maximum).
   */
  readonly maxDelayMs?: number;
}

export interface GcsStoreOptions {
  readonly bucket: string;
  /** Folder inside the bucket, without leading or trailing `/`. */
  readonly prefix?: string;
  /** A client to use as it is; otherwise one is made from the options below. */
  readonly storage?: Storage;
  /** Another JSON API endpoint, e.g. `http://127.0.0.1:PORT` for a local double (see endpointNeedsAuth). */
  readonly apiEndpoint?: string;
  /** Timeout of one HTTP request (default 5 s). */
  readonly requestTimeoutMs?: number;
  /** Longest a store operation may take, retries included (default 20 s). */
  readonly deadlineMs?: number;
  readonly retry?: GcsRetryOptions;
  /** Objects per list request (default 1000, the API's maximum). */
  readonly pageSize?: number;
  /** Objects of at least this size are sent as resumable uploads (default 8 MiB). */
  readonly resumableThreshold?: number;
  /** Chunk size of resumable uploads, a multiple of 256 KiB (default: one request). */
  readonly chunkSize?: number;
}

const GENERATION = /^(0|[1-9][0-9]*)$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
// A read that finds a new generation between its stat and its download starts over after a
// short random pause (objects of the certificate store change rarely; the deadline bounds it).
const REREAD_PAUSE_MS = 25;

/**
 * Whether requests to a custom endpoint carry Google credentials: only over HTTPS to a host other
 * than loopback. A bearer token never travels in clear text, so a plain http:// endpoint (a lab's
 * stand-in on its own network) or a loopback one is called without any.
 */
export function endpointNeedsAuth(endpoint: string): boolean {
  const url = new URL(endpoint);
  return url.protocol === 'https:' && !LOOPBACK.has(url.hostname);
}

/** A client with the store's timeouts and retry policy. */
export function createGcsClient(options: Omit<GcsStoreOptions, 'bucket' | 'storage'> = {}): Storage {
  const maxRetries = options.retry?.maxRetries ?? 3;
  const endpoint = options.apiEndpoint;
  return new Storage({
    ...(endpoint === undefined
      ? {}
      : { apiEndpoint: endpoint, useAuthWithCustomEndpoint: endpointNeedsAuth(endpoint) }),
    timeout: options.requestTimeoutMs ?? 5_000,
    retryOptions: {
      // The client reads maxRetries 0 as "use the default", so no retries is autoRetry false.
      autoRetry: maxRetries > 0,
      maxRetries: Math.max(maxRetries, 1),
      retryDelayMultiplier: 2,
      maxRetryDelay: Math.max(options.retry?.maxDelayMs ?? 2_000, 1_000) / 1000,
      totalTimeout: (options.deadlineMs ?? 20_000) / 1000,
      // Not RetryConditional: for a write without precondition it switches retries off on the
      // shared client while the write runs, which races with concurrent operations. A repeated
      // unconditional write stores the same bytes again, which is harmless here.
      idempotencyStrategy: IdempotencyStrategy.RetryAlways,
    },
  });
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function crc32c(data: Buffer): string {
  const crc = new CRC32C();
  crc.update(data);
  return crc.toString();
}

export function createGcsStore(options: GcsStoreOptions): ObjectStore {
  const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const url = `gs://${options.bucket}${prefix === '' ? '' : `/${prefix}`}`;
  if (prefix !== '') checkKey(prefix, url);
  const base = prefix === '' ? '' : `${prefix}/`;
  const bucket = (options.storage ?? createGcsClient(options)).bucket(options.bucket);
  const deadlineMs = options.deadlineMs ?? 20_000;
  const pageSize = options.pageSize ?? 1000;
  const resumableThreshold = options.resumableThreshold ?? 8 * 1024 * 1024;

  function checkGeneration(generation: string | undefined, key: string): void {
    if (generation !== undefined && !GENERATION.test(generation))
      throw new StoreError('WSFLEET_STORE_INVALID', 'ifGenerationMatch must be a decimal generation', {
        url,
        key,
        cause: { ifGenerationMatch: generation },
      });
  }

  function metaOf(key: string, metadata: FileMetadata): ObjectMeta {
    const { generation, size, updated } = metadata;
    if (generation === undefined || size === undefined || updated === undefined)
      throw new StoreError(
        'WSFLEET_STORE_UNAVAILABLE',
        'GCS answered without generation, size or update time',
        {
          url,
          key,
          cause: { generation, size, updated },
        },
      );
    return { key, generation: String(generation), size: Number(size), updated: String(updated) };
  }

  /** Runs one operation within the deadline, mapping every failure to a StoreError. */
  async function run<T>(op: string, key: string, fn: (deadlineAt: number) => Promise<T>): Promise<T> {
    const deadlineAt = Date.now() + deadlineMs;
    try {
      return await withDeadline(
        deadlineMs,
        () => fn(deadlineAt),
        () =>
          new StoreError('WSFLEET_STORE_UNAVAILABLE', `${op} did not finish within ${deadlineMs} ms`, {
            url,
            key,
            cause: { deadlineMs },
          }),
      );
    } catch (err) {
      throw toStoreError(err, op, url, key);
    }
  }

  async function statOrUndefined(key: string): Promise<ObjectMeta | undefined> {
    try {
      const [metadata] = await bucket.file(base + key).getMetadata();
      return metaOf(key, metadata);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  return {
    url,
    async stat(key) {
      checkKey(key, url);
      return run('stat', key, () => statOrUndefined(key));
    },
    async get(key) {
      checkKey(key, url);
      return run('get', key, async (deadlineAt): Promise<StoredObject | undefined> => {
        for (let attempt = 1; ; attempt++) {
          const meta = await statOrUndefined(key);
          if (meta === undefined) return undefined;
          try {
            // Pinned to the generation just stat'ed, so data and metadata belong together.
            const [data] = await bucket.file(base + key, { generation: meta.generation }).download();
            return { ...meta, size: data.length, data };
          } catch (err) {
            if (statusOf(err) !== 404) throw err;
          }
          if (Date.now() >= deadlineAt)
            throw new StoreError(
              'WSFLEET_STORE_UNAVAILABLE',
              `get kept finding a new generation (${attempt} reads)`,
              {
                url,
                key,
                cause: { attempts: attempt },
              },
            );
          await sleep(REREAD_PAUSE_MS * (0.5 + Math.random()));
        }
      });
    },
    async put(key, data, { ifGenerationMatch, contentType = 'application/octet-stream' } = {}) {
      checkKey(key, url);
      checkGeneration(ifGenerationMatch, key);
      return run('put', key, async () => {
        const file = bucket.file(base + key);
        const resumable = data.length >= resumableThreshold;
        await file.save(data, {
          resumable,
          ...(resumable && options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
          contentType,
          metadata: { contentType, md5Hash: md5(data), crc32c: crc32c(data) },
          validation: false,
          ...(ifGenerationMatch === undefined ? {} : { preconditionOpts: { ifGenerationMatch } }),
        });
        return metaOf(key, file.metadata);
      });
    },
    async delete(key, { ifGenerationMatch } = {}) {
      checkKey(key, url);
      checkGeneration(ifGenerationMatch, key);
      return run('delete', key, async () => {
        try {
          await bucket.file(base + key).delete(ifGenerationMatch === undefined ? {} : { ifGenerationMatch });
          return true;
        } catch (err) {
          if (statusOf(err) === 404) return false;
          throw err;
        }
      });
    },
    async list(listPrefix) {
      checkPrefix(listPrefix, url);
      return run('list', listPrefix, async () => {
        const metas: ObjectMeta[] = [];
        let pageToken: string | undefined;
        do {
          const [files, next] = await bucket.getFiles({
            prefix: base + listPrefix,
            autoPaginate: false,
            maxResults: pageSize,
            ...(pageToken === undefined ? {} : { pageToken }),
          });
          for (const file of files) metas.push(metaOf(file.name.slice(base.length), file.metadata));
          pageToken = (next as { pageToken?: string } | null)?.pageToken;
        } while (pageToken !== undefined);
        return metas.sort((a, b) => compareKeys(a.key, b.key));
      });
    },
  };
}
