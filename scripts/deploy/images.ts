/**
 * Which image each role's VMs boot: named by a flag or the fleet config, or else the newest image
 * `wsfleet images build <role> --project <project>` built, read from its manifest
 * (`dist/images/gce/<image>.json`). Templates pin the image itself, never a family, so
 * autohealing and scaling never mix versions.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ImageManifest, MANIFEST_FORMAT } from '../../images/build/manifest.ts';
import { FleetConfigError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';

export type Role = 'app' | 'renewer';

export interface FleetImages {
  readonly app: string;
  readonly renewer: string;
}

export interface ImageChoice {
  readonly appImage?: string | undefined;
  readonly renewerImage?: string | undefined;
  /** Where the gce build manifests are. */
  readonly imagesDir: string;
}

function isManifest(value: unknown): value is ImageManifest {
  const m = value as Partial<ImageManifest> | null;
  return typeof m === 'object' && m !== null && m.format === MANIFEST_FORMAT && typeof m.image === 'string';
}

/** The gce manifests in `dir` for `project`, newest first; none when the folder is missing. */
export async function readManifests(dir: string, project: string): Promise<ImageManifest[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const manifests: ImageManifest[] = [];
  for (const file of files) {
    try {
      const value: unknown = JSON.parse(await readFile(join(dir, file), 'utf8'));
      if (isManifest(value) && value.target === 'gce' && value.project === project) manifests.push(value);
    } catch {
      // Not a manifest of ours (or half-written): ignored, like any other file there.
    }
  }
  return manifests.sort((a, b) => b.builtAt.localeCompare(a.builtAt));
}

/** Both roles' images; throws FleetConfigError naming each role that has none. */
export async function resolveImages(config: FleetConfig, choice: ImageChoice): Promise<FleetImages> {
  const manifests = await readManifests(choice.imagesDir, config.project);
  const problems: string[] = [];
  const pick = (role: Role, flag: string | undefined, configured: string | undefined): string => {
    const named = flag ?? configured ?? manifests.find((m) => m.role === role)?.image;
    if (named === undefined) {
      problems.push(
        `no ${role} image: give --${role}-image or \`${role}.image\`, or build one with \`wsfleet images build ${role} --project ${config.project}\` (its manifest goes to ${choice.imagesDir})`,
      );
      return '';
    }
    return named;
  };
  const images = {
    app: pick('app', choice.appImage, config.app.image),
    renewer: pick('renewer', choice.renewerImage, config.renewer.image),
  };
  if (problems.length > 0) throw new FleetConfigError(problems);
  return images;
}
