/**
 * The template of one role, assembled for the packer at hand: the shared variables and sources,
 * the role's build, and for packer ≥ 1.7 the `required_plugins` block that 1.6 refuses. Copying
 * into a fresh folder (rather than pointing packer at images/packer/) is what lets one set of
 * files serve both, and keeps the other role's build out of this one's hash.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hashInputs, type InputEntry } from './inputs.ts';

export const ROLES = ['app', 'renewer'] as const;
export type Role = (typeof ROLES)[number];

/** Where a build goes: a GCE image, or the null source's dry run on this machine. */
export type PackerTarget = 'gce' | 'dry-run';

export const COMMON_TEMPLATE_FILES = ['variables.pkr.hcl', 'sources.pkr.hcl'] as const;
export const PLUGINS_FILE = 'plugins.pkr.hcl';

/** The name `-only` selects: `<build>.<source type>.<source name>`, as packer 1.6 and later spell it. */
export function buildName(role: Role, target: PackerTarget): string {
  return `${role}.${target === 'gce' ? 'googlecompute' : 'null'}.${role}`;
}

/** The files of a role's template, as named in images/packer/. */
export function templateFiles(role: Role, withPlugins: boolean): string[] {
  return [...COMMON_TEMPLATE_FILES, `${role}.pkr.hcl`, ...(withPlugins ? [PLUGINS_FILE] : [])];
}

export interface AssembledTemplate {
  readonly dir: string;
  /** The copied files, named `packer/<file>` for hashing. */
  readonly entries: readonly InputEntry[];
  /** SHA-256 of exactly what packer is given (plugins block included). */
  readonly hash: string;
}

export async function assembleTemplate(
  packerDir: string,
  role: Role,
  withPlugins: boolean,
  into: string,
): Promise<AssembledTemplate> {
  await mkdir(into, { recursive: true });
  const entries: InputEntry[] = [];
  for (const file of templateFiles(role, withPlugins)) {
    const path = join(into, file);
    await copyFile(join(packerDir, file), path);
    entries.push({ name: `packer/${file}`, path });
  }
  return { dir: into, entries, hash: await hashInputs(entries) };
}

/** `0.1.0` → `0-1-0`, as the templates' `version_stamp` local does it (GCE names allow [a-z0-9-]). */
export function versionStamp(version: string): string {
  return version.toLowerCase().replace(/[^a-z0-9]/g, '-');
}

/** The image name the templates give: `wsfleet-<role>-<version>-<hash>`. */
export function imageName(role: Role, version: string, contentHash: string): string {
  return `wsfleet-${role}-${versionStamp(version)}-${contentHash}`;
}
