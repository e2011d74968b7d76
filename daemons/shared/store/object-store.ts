/**
 * An object store with generations, in the shape of Google Cloud Storage, which every backend
 * follows: `gs://bucket/prefix` (GCS, production) and `file:///path` (one machine, tests).
 *
 * Contract (test/integration/store-contract.test.ts runs it over every backend):
 * - Every write of a key gives it a new generation, a decimal string that is never reused for
 *   that key (also not after a delete and re-create).
 * - `put` with `ifGenerationMatch: '0'` succeeds only if the key does not exist; with any other
 *   value only if the current generation is exactly that. Otherwise it throws a StoreError with
 *   code WSFLEET_STORE_PRECONDITION and changes nothing. `delete` likewise.
 * - A reader sees either the whole old object or the whole new one, never a mix.
 * - `get`/`stat` of a missing key resolve undefined; `delete` of a missing key resolves false.
 * - `list(prefix)` returns every key under the prefix (all pages), sorted by the key's UTF-8
 *   bytes (GCS's order).
 * - Keys follow keys.ts on every backend (`/`-separated segments of 1–255 bytes, none starting
 *   with `.`, no control characters, at most 1024 bytes); others are refused with
 *   WSFLEET_STORE_INVALID before anything is sent. A key is never also the folder of another key
 *   (`a` and `a/b`): the file store refuses that, GCS would not.
 * - An unreachable backend throws WSFLEET_STORE_UNAVAILABLE; one that refuses access
 *   WSFLEET_STORE_DENIED. Nothing is half-written either way.
 * - Objects hold private keys: backends never make them readable to others (file mode 0600,
 *   GCS uniform bucket-level access without public access).
 */

export interface ObjectMeta {
  /** Key relative to the store's prefix, e.g. `certs/example.com/current`. */
  readonly key: string;
  readonly generation: string;
  readonly size: number;
  /** ISO time of the write. */
  readonly updated: string;
}

export interface StoredObject extends ObjectMeta {
  readonly data: Buffer;
}

export interface WriteOptions {
  /** '0': the key must not exist; otherwise the generation the key must have now. */
  readonly ifGenerationMatch?: string;
  readonly contentType?: string;
}

export interface ObjectStore {
  /** The store's URL, safe to log. */
  readonly url: string;
  get(key: string): Promise<StoredObject | undefined>;
  stat(key: string): Promise<ObjectMeta | undefined>;
  put(key: string, data: Buffer, options?: WriteOptions): Promise<ObjectMeta>;
  delete(key: string, options?: { readonly ifGenerationMatch?: string }): Promise<boolean>;
  list(prefix: string): Promise<ObjectMeta[]>;
}
