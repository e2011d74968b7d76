/**
 * The installed certificates on disk, and every step that changes them atomically:
 *
 *   <dir>/versions/<name>/<serial>-<time>/fullchain.pem  0644, chain leaf first
 *   <dir>/versions/<name>/<serial>-<time>/privkey.pem    0600
 *   <dir>/live/<name> -> ../versions/<name>/<serial>-<time>
 *
 * A version folder (0700) is written whole and fsynced before anything points at it; `live/<name>`
 * is then replaced by renaming a temporary symlink over it, so nginx, whenever it reads, finds the
 * old pair or the new pair, never one file of each.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../shared/store/file-io.ts';
import type { Bundle } from './validate.ts';

export const FULLCHAIN = 'fullchain.pem';
export const PRIVKEY = 'privkey.pem';

export const paths = {
  live: (dir: string, name?: string) => (name === undefined ? join(dir, 'live') : join(dir, 'live', name)),
  versions: (dir: string, name?: string) =>
    name === undefined ? join(dir, 'versions') : join(dir, 'versions', name),
  displaced: (dir: string) => join(dir, 'displaced'),
  /** What `live/<name>` points at, relative, so the folder can move as a whole. */
  target: (name: string, version: string) => `../versions/${name}/${version}`,
};

/** sha256 of the pair: equal digests mean nginx would load the very same files. */
export function bundleDigest(bundle: Bundle): string {
  return createHash('sha256')
    .update(bundle.certificatePem)
    .update('\0')
    .update(bundle.privateKeyPem)
    .digest('hex');
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Creates `<dir>`, `live/` and `versions/` when missing. */
export async function prepareDir(dir: string): Promise<void> {
  await mkdir(paths.live(dir), { recursive: true, mode: 0o755 });
  await mkdir(paths.versions(dir), { recursive: true, mode: 0o755 });
}

async function writeSynced(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(text);
    // open() applies the umask; the mode must be exact whatever the umask.
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `20300101T000000000Z`: sorts by time as text, like the store's version keys. */
function compactTime(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '');
}

const VERSION = /^([0-9a-f]+)-(\d{8}T\d{9}Z)(?:-\d+)?$/;

/** Writes a new version folder, fsynced; returns its name (`<serial>-<time>`). */
export async function writeVersion(dir: string, name: string, bundle: Bundle, serial: string, now: Date) {
  const parent = paths.versions(dir, name);
  await mkdir(parent, { recursive: true, mode: 0o755 });
  const base = `${serial.toLowerCase()}-${compactTime(now)}`;
  let version = base;
  for (let i = 1; ; i++) {
    try {
      await mkdir(join(parent, version), { mode: 0o700 });
      break;
    } catch (err) {
      if (errno(err) !== 'EEXIST' || i > 100) throw err;
      version = `${base}-${i}`;
    }
  }
  const folder = join(parent, version);
  try {
    await writeSynced(join(folder, FULLCHAIN), bundle.certificatePem, 0o644);
    await writeSynced(join(folder, PRIVKEY), bundle.privateKeyPem, 0o600);
    await syncDir(folder);
    await syncDir(parent);
  } catch (err) {
    await rm(folder, { recursive: true, force: true });
    throw err;
  }
  return version;
}

/** The version `live/<name>` points at (undefined: no link, or a link or folder that is not ours). */
export async function liveVersion(dir: string, name: string): Promise<string | undefined> {
  try {
    const target = await readlink(paths.live(dir, name));
    const prefix = paths.target(name, '');
    const version = target.startsWith(prefix) ? target.slice(prefix.length) : '';
    return VERSION.test(version) ? version : undefined;
  } catch {
    return undefined;
  }
}

/** What nginx would read through `live/<name>` now, or undefined when either file is missing. */
export async function readLive(dir: string, name: string): Promise<Bundle | undefined> {
  return readPair(paths.live(dir, name));
}

/** The pair in a version folder, or undefined when either file is missing. */
export async function readVersion(dir: string, name: string, version: string): Promise<Bundle | undefined> {
  return readPair(join(paths.versions(dir, name), version));
}

async function readPair(folder: string): Promise<Bundle | undefined> {
  try {
    const [certificatePem, privateKeyPem] = await Promise.all([
      readFile(join(folder, FULLCHAIN), 'utf8'),
      readFile(join(folder, PRIVKEY), 'utf8'),
    ]);
    return { certificatePem, privateKeyPem };
  } catch (err) {
    if (['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP', 'EISDIR'].includes(errno(err) ?? '')) return undefined;
    throw err;
  }
}

/**
 * Points `live/<name>` at `version` (undefined removes it), atomically: a temporary symlink renamed
 * over the old one. Something else at `live/<name>` (an operator's folder) is first moved to
 * `<dir>/displaced/`, kept for inspection; returns where it went.
 */
export async function swapLive(
  dir: string,
  name: string,
  version: string | undefined,
  now: Date,
): Promise<string | undefined> {
  const live = paths.live(dir, name);
  let displacedTo: string | undefined;
  const existing = await lstat(live).catch((err: unknown) => {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined && !existing.isSymbolicLink()) {
    await mkdir(paths.displaced(dir), { recursive: true, mode: 0o700 });
    displacedTo = join(paths.displaced(dir), `${name}-${compactTime(now)}-${randomBytes(3).toString('hex')}`);
    await rename(live, displacedTo);
  }
  if (version === undefined) {
    await rm(live, { force: true });
  } else {
    const temp = join(paths.live(dir), `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    await symlink(paths.target(name, version), temp);
    try {
      await rename(temp, live);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
  await syncDir(paths.live(dir));
  return displacedTo;
}

/** Version folders of `name`, newest first. */
export async function listVersions(dir: string, name: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(paths.versions(dir, name));
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw err;
  }
  const time = (v: string) => VERSION.exec(v)?.[2] ?? '';
  return entries.filter((v) => VERSION.test(v)).sort((a, b) => (time(b) + b).localeCompare(time(a) + a));
}

/** Removes all but the newest `keep` versions, never one in `protect`; returns what was removed. */
export async function pruneVersions(
  dir: string,
  name: string,
  keep: number,
  protect: readonly (string | undefined)[],
): Promise<string[]> {
  const versions = await listVersions(dir, name);
  const doomed = versions.slice(keep).filter((v) => !protect.includes(v));
  for (const v of doomed) await rm(join(paths.versions(dir, name), v), { recursive: true, force: true });
  return doomed;
}

/** Names that have something at `live/<name>`. */
export async function liveNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(paths.live(dir))).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw err;
  }
}
