/**
 * File-system steps of the file store: atomic replacement (temporary file in the same folder,
 * fsync, rename, fsync of the folder), removal of folders a delete left empty, and the walk
 * that lists keys.
 */
import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A path that is not there, or runs through a file where a folder would be. */
export function isMissing(err: unknown): boolean {
  const code = errno(err);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `bytes` whole: temporary file in the same folder, fsync, rename, fsync. */
export async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const temp = join(dirname(path), `.wsfleet-${randomBytes(8).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/** Removes the folders above `path` that are now empty, up to (not including) `root`. */
export async function pruneEmptyParents(root: string, path: string): Promise<void> {
  for (let dir = dirname(path); dir.length > root.length && dir.startsWith(root); dir = dirname(dir)) {
    try {
      await rmdir(dir);
    } catch {
      return;
    }
  }
}

/**
 * Collects into `into` the keys under `folder` (a folder of keys such as `certs/example.com`, or
 * '' for the root) that start with `prefix`, skipping dot files (the store's own) and folders
 * that cannot hold a match.
 */
export async function walkKeys(root: string, folder: string, prefix: string, into: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(folder === '' ? root : join(root, ...folder.split('/')), { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
    if (entry.isDirectory()) {
      if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`))
        await walkKeys(root, key, prefix, into);
    } else if (entry.isFile() && key.startsWith(prefix)) {
      into.push(key);
    }
  }
}
