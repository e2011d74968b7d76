/**
 * The manifest of a build: what was built from what, written next to the build's output as JSON
 * (`<output>/<target>/<image>.json`, beside `<image>.packer.log`). The deploy reads the image
 * name from it; a person reads where an image came from.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';

export const MANIFEST_FORMAT = 'wsfleet.image-manifest/1';

export interface ImageManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly role: string;
  readonly target: string;
  /** The GCE image (for a dry run: the name a real build of the same inputs gets). */
  readonly image: string;
  readonly imageFamily: string;
  /** What packer reported as the artifact: the image name for gce, `Null` for a dry run. */
  readonly artifactId: string;
  readonly project: string | null;
  readonly zone: string | null;
  readonly wsfleetVersion: string;
  /** Hash of every input (templates, provisioning, bundle, Node runtime, units, nginx files, vars). */
  readonly contentHash: string;
  /** Hash of the template exactly as packer got it. */
  readonly templateHash: string;
  readonly nodeVersion: string;
  readonly packerVersion: string;
  /** `git rev-parse HEAD` of the checkout, `-dirty` when tracked files differ from it. */
  readonly gitRevision: string | null;
  readonly builtAt: string;
  readonly durationMs: number;
}

/** The checkout's commit, or null outside a git checkout (or without git). */
export async function gitRevision(checkout: string, timeoutMs = 5_000): Promise<string | null> {
  const options = { cwd: checkout, reject: false, stdin: 'ignore', timeout: timeoutMs } as const;
  const head = await execa('git', ['rev-parse', '--verify', 'HEAD'], options);
  if (head.failed || !/^[0-9a-f]{40}$/.test(head.stdout.trim())) return null;
  // Exit 1: tracked files differ from HEAD.
  const diff = await execa('git', ['diff', '--quiet', 'HEAD', '--'], options);
  return `${head.stdout.trim()}${diff.exitCode === 1 ? '-dirty' : ''}`;
}

/** Writes JSON whole or not at all (temp file, then rename). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temp, path);
}
