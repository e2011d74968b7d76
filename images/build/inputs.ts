/**
 * The content hash of an image's inputs: what names the GCE image (`wsfleet-app-0-1-0-<hash>`)
 * and keys the local build cache. Any change to a template, a provisioning script, the bundle,
 * the Node runtime, a unit or an nginx file gives another hash; nothing else does (not the time,
 * not the folder the checkout is in, not file modes, which the install sets itself).
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface InputEntry {
  /** The name the file is hashed under: its path in the staged folder, `/`-separated. */
  readonly name: string;
  /** Where it is read from. */
  readonly path: string;
}

/** Every file under `dir`, named `prefix/<relative path>`, sorted; none when `dir` does not exist. */
export async function listTree(dir: string, prefix: string): Promise<InputEntry[]> {
  const out: InputEntry[] = [];
  async function walk(at: string, name: string): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(at, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && at === dir) return;
      throw err;
    }
    for (const entry of entries) {
      const path = join(at, entry.name);
      const child = name === '' ? entry.name : `${name}/${entry.name}`;
      if (entry.isDirectory()) await walk(path, child);
      else out.push({ name: child, path });
    }
  }
  await walk(dir, prefix);
  return sortEntries(out);
}

function sortEntries(entries: InputEntry[]): InputEntry[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * SHA-256 over the files in name order (each as its length-prefixed name and the SHA-256 of its
 * bytes, so no two different sets run together into the same stream) and then the values in key
 * order (length-prefixed too). Hex.
 */
export async function hashInputs(
  entries: readonly InputEntry[],
  values: Readonly<Record<string, string>> = {},
): Promise<string> {
  const sorted = sortEntries([...entries]);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.name === sorted[i - 1]?.name) throw new Error(`input ${sorted[i]?.name} is listed twice`);
  }
  const hash = createHash('sha256');
  hash.update('wsfleet.image-inputs/1\0');
  for (const entry of sorted) {
    hash.update(`file\0${Buffer.byteLength(entry.name)}\0${entry.name}\0`);
    // Streamed: the Node runtime alone is 51 MB.
    const content = createHash('sha256');
    for await (const chunk of createReadStream(entry.path)) content.update(chunk as Buffer);
    hash.update(content.digest());
  }
  for (const key of Object.keys(values).sort()) {
    const value = values[key] as string;
    hash.update(`value\0${Buffer.byteLength(key)}\0${key}\0${Buffer.byteLength(value)}\0${value}\0`);
  }
  return hash.digest('hex');
}

/** The 12 hex digits that go into image names (48 bits: no collision among a project's images). */
export function shortHash(hex: string): string {
  return hex.slice(0, 12);
}
