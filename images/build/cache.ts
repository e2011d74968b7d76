/**
 * The cache of local builds, keyed by the content hash of their inputs: a build whose inputs did
 * not change is not run again. An entry is a folder `<cache>/<key>/` holding the build's output
 * and `entry.json`; it is built in a temporary folder beside it and renamed into place only when
 * complete, so a folder under its key is always a whole build.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ENTRY_FILE = 'entry.json';
const ENTRY_FORMAT = 'wsfleet.image-cache-entry/1';

export interface CacheEntry<M> {
  readonly dir: string;
  readonly manifest: M;
}

export interface CacheResult<M> extends CacheEntry<M> {
  /** True when an existing build was used; false when `build` ran. */
  readonly hit: boolean;
}

function checkKey(key: string): void {
  if (!/^[0-9a-f]{12,64}$/.test(key))
    throw new Error(`cache key must be a hex hash, got ${JSON.stringify(key)}`);
}

/** The entry under `key`, or undefined when there is none or it is not a complete entry. */
export async function lookupCache<M>(cacheDir: string, key: string): Promise<CacheEntry<M> | undefined> {
  checkKey(key);
  const dir = join(cacheDir, key);
  let text: string;
  try {
    text = await readFile(join(dir, ENTRY_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const entry = JSON.parse(text) as { format?: unknown; key?: unknown; manifest?: M };
    if (entry.format !== ENTRY_FORMAT || entry.key !== key || entry.manifest === undefined) return undefined;
    return { dir, manifest: entry.manifest };
  } catch {
    return undefined;
  }
}

/**
 * The entry under `key`, built first when missing: `build` gets an empty folder to write its
 * output into and returns the manifest. A failed build leaves nothing behind; of two builds of the
 * same key at once, the first to finish is kept and both callers get it.
 */
export async function buildCached<M>(
  cacheDir: string,
  key: string,
  build: (dir: string) => Promise<M>,
): Promise<CacheResult<M>> {
  const found = await lookupCache<M>(cacheDir, key);
  if (found !== undefined) return { ...found, hit: true };
  await mkdir(cacheDir, { recursive: true });
  const final = join(cacheDir, key);
  const work = await mkdtemp(join(cacheDir, `.${key}-`));
  try {
    const manifest = await build(work);
    await writeFile(
      join(work, ENTRY_FILE),
      `${JSON.stringify({ format: ENTRY_FORMAT, key, manifest }, null, 2)}\n`,
    );
    try {
      await rename(work, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another build of the same inputs finished first: its output is as good as ours.
      const winner = await lookupCache<M>(cacheDir, key);
      if (winner !== undefined) return { ...winner, hit: true };
      // A folder under the key without a valid entry was not made here (or was damaged): replace it.
      await rm(final, { recursive: true, force: true });
      await rename(work, final);
    }
    return { dir: final, manifest, hit: false };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
