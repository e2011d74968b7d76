/**
 * The object store of one machine (`file:///path`): one file per key under the root, written
 * atomically (temporary file in the same folder, fsync, rename, fsync of the folder), files 0600
 * and folders 0700. Each file starts with a one-line header holding its generation
 * (file-format.ts), so data and generation change together.
 *
 * Writes and deletes of every process on the machine go through one lock file in the root
 * (file-lock.ts): the precondition check and the write happen under it, so two renewers racing
 * never both win. Generations come from a counter in the root, raised under the same lock before
 * the object is renamed into place and floored at the time in microseconds (as in GCS), so a
 * generation is never used twice, even after a delete. Readers take no lock: a rename replaces a
 * file whole. Keys follow keys.ts; in addition a key cannot also be the folder of other keys
 * (`a` and `a/b`), which the file system cannot hold and which is refused as WSFLEET_STORE_INVALID.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeHeader, encodeObject, MAX_HEADER_BYTES } from './file-format.ts';
import { errno, isMissing, pruneEmptyParents, syncDir, walkKeys, writeAtomic } from './file-io.ts';
import { LockBusyError, withFileLock } from './file-lock.ts';
import { checkKey, checkPrefix, compareKeys } from './keys.ts';
import type { ObjectMeta, ObjectStore, StoredObject } from './object-store.ts';
import { StoreError } from './store-error.ts';

export interface FileStoreOptions {
  /** How long a write waits for the store's lock (default 10 s). */
  readonly lockTimeoutMs?: number;
  /** Age at which a lock is taken as abandoned although its pid exists (default 30 s). */
  readonly staleLockMs?: number;
}

const LOCK_FILE = '.wsfleet-lock';
const COUNTER_FILE = '.wsfleet-generation';
const GENERATION = /^(0|[1-9][0-9]*)$/;

export function createFileStore(path: string, options: FileStoreOptions = {}): ObjectStore {
  if (!isAbsolute(path))
    throw new StoreError(
      'WSFLEET_STORE_URL',
      `The file store needs an absolute path, got ${JSON.stringify(path)}`,
      {
        url: path,
        cause: { path },
      },
    );
  const root = resolve(path);
  const url = pathToFileURL(root).href;
  const lock = { timeoutMs: options.lockTimeoutMs ?? 10_000, staleMs: options.staleLockMs ?? 30_000 };
  const pathOf = (key: string): string => join(root, ...key.split('/'));
  // Writers of this process queue here, so they do not poll the lock file against each other.
  let queue: Promise<unknown> = Promise.resolve();

  function serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  function failure(err: unknown, op: string, key?: string): StoreError {
    if (err instanceof StoreError) return err;
    const code = errno(err);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
      return new StoreError('WSFLEET_STORE_DENIED', `${op} was refused by the file system (${code})`, {
        url,
        key,
        cause: err,
      });
    if (err instanceof LockBusyError)
      return new StoreError('WSFLEET_STORE_UNAVAILABLE', `${op} gave up waiting for the store's write lock`, {
        url,
        key,
        cause: err,
      });
    const reason = code ?? (err instanceof Error ? err.message : String(err));
    return new StoreError('WSFLEET_STORE_UNAVAILABLE', `${op} failed (${reason})`, { url, key, cause: err });
  }

  function corrupt(key: string, cause: unknown): StoreError {
    return new StoreError('WSFLEET_STORE_CORRUPT', 'The file is not a wsfleet store object', {
      url,
      key,
      cause,
    });
  }

  function checkGeneration(generation: string | undefined, key: string): void {
    if (generation !== undefined && !GENERATION.test(generation))
      throw new StoreError('WSFLEET_STORE_INVALID', `ifGenerationMatch must be a decimal generation`, {
        url,
        key,
        cause: { ifGenerationMatch: generation },
      });
  }

  function checkPrecondition(op: string, key: string, current: ObjectMeta | undefined, expected?: string) {
    if (expected === undefined || (current?.generation ?? '0') === expected) return;
    const want = expected === '0' ? 'no object' : `generation ${expected}`;
    const found = current === undefined ? 'none' : `generation ${current.generation}`;
    throw new StoreError(
      'WSFLEET_STORE_PRECONDITION',
      `${op} lost a race: expected ${want}, found ${found}`,
      {
        url,
        key,
        cause: { ifGenerationMatch: expected, generation: current?.generation },
      },
    );
  }

  async function readHead(key: string): Promise<ObjectMeta | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(pathOf(key), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) return undefined;
      const head = Buffer.alloc(Math.min(info.size, MAX_HEADER_BYTES + 1));
      await handle.read(head, 0, head.length, 0);
      const decoded = decodeHeader(head);
      if (decoded === undefined) throw corrupt(key, { size: info.size });
      const { generation, updated } = decoded.header;
      return { key, generation, size: info.size - decoded.dataOffset, updated };
    } finally {
      await handle.close();
    }
  }

  async function readWhole(key: string): Promise<StoredObject | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(pathOf(key));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    const decoded = decodeHeader(bytes);
    if (decoded === undefined) throw corrupt(key, { size: bytes.length });
    const { generation, updated } = decoded.header;
    const data = bytes.subarray(decoded.dataOffset);
    return { key, generation, size: data.length, updated, data };
  }

  /** The next generation, persisted before the object that carries it is renamed into place. */
  async function nextGeneration(atLeast: bigint): Promise<string> {
    const counter = join(root, COUNTER_FILE);
    let last = 0n;
    try {
      const text = (await readFile(counter, 'utf8')).trim();
      if (GENERATION.test(text)) last = BigInt(text);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    let next = last + 1n;
    const micros = BigInt(Date.now()) * 1000n;
    if (micros > next) next = micros;
    if (atLeast > next) next = atLeast;
    await writeAtomic(counter, Buffer.from(`${next}\n`));
    return next.toString();
  }

  /** Runs `fn` under the store's write lock, creating the root (0700) first if needed. */
  function locked<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    return serialize(async () => {
      try {
        await mkdir(root, { recursive: true, mode: 0o700 });
        return await withFileLock(join(root, LOCK_FILE), lock, fn);
      } catch (err) {
        throw failure(err, op, key);
      }
    });
  }

  async function makeParents(key: string): Promise<void> {
    try {
      await mkdir(dirname(pathOf(key)), { recursive: true, mode: 0o700 });
    } catch (err) {
      const code = errno(err);
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
      throw new StoreError('WSFLEET_STORE_INVALID', 'A folder of this key is itself an object', {
        url,
        key,
        cause: err,
      });
    }
  }

  return {
    url,
    async get(key) {
      checkKey(key, url);
      try {
        return await readWhole(key);
      } catch (err) {
        throw failure(err, 'get', key);
      }
    },
    async stat(key) {
      checkKey(key, url);
      try {
        return await readHead(key);
      } catch (err) {
        throw failure(err, 'stat', key);
      }
    },
    async put(key, data, { ifGenerationMatch, contentType = 'application/octet-stream' } = {}) {
      checkKey(key, url);
      checkGeneration(ifGenerationMatch, key);
      return locked('put', key, async () => {
        const current = await readHead(key);
        checkPrecondition('put', key, current, ifGenerationMatch);
        await makeParents(key);
        const generation = await nextGeneration(current === undefined ? 0n : BigInt(current.generation) + 1n);
        const updated = new Date().toISOString();
        try {
          await writeAtomic(pathOf(key), encodeObject({ generation, updated, contentType }, data));
        } catch (err) {
          if (errno(err) !== 'EISDIR') throw err;
          throw new StoreError('WSFLEET_STORE_INVALID', 'The key is the folder of other keys', {
            url,
            key,
            cause: err,
          });
        }
        return { key, generation, size: data.length, updated };
      });
    },
    async delete(key, { ifGenerationMatch } = {}) {
      checkKey(key, url);
      checkGeneration(ifGenerationMatch, key);
      return locked('delete', key, async () => {
        const current = await readHead(key);
        if (current === undefined) return false;
        checkPrecondition('delete', key, current, ifGenerationMatch);
        // The counter must pass this generation before the object goes, or a re-create could reuse it.
        await nextGeneration(BigInt(current.generation) + 1n);
        await rm(pathOf(key));
        await syncDir(dirname(pathOf(key)));
        await pruneEmptyParents(root, pathOf(key));
        return true;
      });
    },
    async list(prefix) {
      checkPrefix(prefix, url);
      try {
        const cut = prefix.lastIndexOf('/');
        const keys: string[] = [];
        await walkKeys(root, cut === -1 ? '' : prefix.slice(0, cut), prefix, keys);
        keys.sort(compareKeys);
        const metas: ObjectMeta[] = [];
        for (const key of keys) {
          const meta = await readHead(key);
          if (meta !== undefined) metas.push(meta);
        }
        return metas;
      } catch (err) {
        throw failure(err, 'list', prefix);
      }
    },
  };
}
