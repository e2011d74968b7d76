/**
 * `wsfleet images validate`: `packer fmt -check` over images/packer/, then `packer validate` of
 * each role's template as the build assembles it for the packer at hand, with placeholders for
 * the variables a build computes. Every failure is reported, not only the first.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../../daemons/shared/version.ts';
import { ImageError } from './errors.ts';
import { fmtCheck, init, validate } from './packer-check.ts';
import type { PackerCommand } from './packer-process.ts';
import { detectPacker, formatVersion, needsPlugins } from './packer-version.ts';
import type { ImagePaths } from './paths.ts';
import { STAGING_NAME } from './staging.ts';
import { assembleTemplate, ROLES, templateFiles } from './templates.ts';

export interface ValidateDeps {
  readonly paths: ImagePaths;
  readonly write: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/** Values that satisfy the variables' own checks; nothing is built with them. */
export function placeholderVars(stagingDir: string): Record<string, string> {
  return {
    project_id: 'wsfleet-validate',
    wsfleet_version: VERSION,
    content_hash: '000000000000',
    staging_dir: stagingDir,
  };
}

export async function validateTemplates(packer: string, deps: ValidateDeps): Promise<void> {
  const cmd: PackerCommand = { packer, ...(deps.env === undefined ? {} : { env: deps.env }) };
  const version = await detectPacker(cmd);
  const plugins = needsPlugins(version);
  deps.write(`packer ${formatVersion(version)}\n`);
  const failures: string[] = [];
  try {
    await fmtCheck(cmd, deps.paths.packer);
    deps.write(`ok    packer fmt -check ${deps.paths.packer}\n`);
  } catch (err) {
    if (!(err instanceof ImageError)) throw err;
    failures.push(err.message);
    deps.write(`FAIL  packer fmt -check ${deps.paths.packer}\n`);
  }
  const work = await mkdtemp(join(tmpdir(), 'wsfleet-validate-'));
  try {
    // The file provisioner wants its source to exist; an empty folder stands in for the inputs.
    const staging = join(work, STAGING_NAME);
    await mkdir(staging);
    for (const role of ROLES) {
      const what = `packer validate ${role} (${templateFiles(role, plugins).join(', ')})`;
      try {
        const template = await assembleTemplate(deps.paths.packer, role, plugins, join(work, role));
        if (plugins) await init(cmd, template.dir);
        await validate(cmd, template.dir, placeholderVars(staging));
        deps.write(`ok    ${what}\n`);
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        failures.push(`${role}: ${err.message}`);
        deps.write(`FAIL  ${what}\n`);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    throw new ImageError('WSFLEET_IMAGE_INVALID', failures.join('\n\n'));
  }
}
