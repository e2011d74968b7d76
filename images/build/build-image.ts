/**
 * One image build, start to finish: find packer, prepare the inputs (prepare.ts: the pinned Node
 * runtime, the staged folder, the template, their hash), run `packer build` with a readable
 * progress display and the full machine-readable log beside it, and write the manifest. The
 * temporary folders go in every case.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { VERSION } from '../../daemons/shared/version.ts';
import { ImageError } from './errors.ts';
import { buildPreflight, checkImages, type GcloudRead } from './gce-preflight.ts';
import { gitRevision, type ImageManifest, MANIFEST_FORMAT, writeJsonAtomic } from './manifest.ts';
import { runBuild } from './packer-build.ts';
import { init } from './packer-check.ts';
import type { PackerCommand } from './packer-process.ts';
import { detectPacker, formatVersion, needsPlugins } from './packer-version.ts';
import type { ImagePaths } from './paths.ts';
import { prepareInputs } from './prepare.ts';
import { createProgress } from './progress.ts';
import { buildName, imageName, type PackerTarget, type Role } from './templates.ts';

export interface BuildRequest {
  readonly role: Role;
  readonly target: PackerTarget;
  readonly project?: string;
  readonly zone: string;
  readonly imageFamily?: string;
  /** Further template variables (--var). */
  readonly vars: Readonly<Record<string, string>>;
  readonly outputDir: string;
  readonly cacheDir: string;
  readonly bundle: string;
  readonly packer: string;
  readonly buildTimeoutMs: number;
  readonly verbose?: boolean;
  /** Selects another build than the target's (tests use it to select none). */
  readonly only?: string;
}

export interface BuildDeps {
  readonly paths: ImagePaths;
  readonly write: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
  readonly cancelSignal?: AbortSignal;
  /** Reads the project before and after a gce build (gce-preflight.ts); without it, no checks. */
  readonly gcloud?: GcloudRead;
}

export interface BuiltImage {
  readonly manifest: ImageManifest;
  readonly manifestPath: string;
  readonly logPath: string;
}

/** Placeholder project for a dry run, which never reaches a cloud. */
export const DRY_RUN_PROJECT = 'wsfleet-dry-run';

export async function buildImage(req: BuildRequest, deps: BuildDeps): Promise<BuiltImage> {
  const now = deps.now ?? Date.now;
  const started = now();
  const progress = createProgress({ write: deps.write, now, verbose: req.verbose ?? false });
  const cmd: PackerCommand = { packer: req.packer, ...(deps.env === undefined ? {} : { env: deps.env }) };

  const version = await detectPacker(cmd);
  progress.step(
    `packer ${formatVersion(version)}${needsPlugins(version) ? ' (plugins: googlecompute)' : ''}`,
  );

  // Packer first: a machine without it needs no look at the project.
  const checks = req.target === 'gce' && req.project !== undefined ? deps.gcloud : undefined;
  if (checks !== undefined) {
    progress.step(`checking ${req.project ?? ''}: credentials, build network and SSH, organization policies`);
    const problems = await buildPreflight(checks, {
      project: req.project ?? '',
      network: req.vars.network ?? '',
      useOsLogin: req.vars.use_os_login === 'true',
    });
    if (problems.length > 0)
      throw new ImageError(
        'WSFLEET_PREFLIGHT_FAILED',
        `the build would fail; fix first:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
  }

  const work = await mkdtemp(join(tmpdir(), 'wsfleet-image-'));
  try {
    const { template, staged, pin, contentHash } = await prepareInputs(
      {
        paths: deps.paths,
        role: req.role,
        withPlugins: needsPlugins(version),
        bundle: req.bundle,
        cacheDir: req.cacheDir,
        vars: req.vars,
        log: (t) => progress.step(t),
      },
      work,
    );
    const image = imageName(req.role, VERSION, contentHash);
    const family = req.imageFamily ?? `wsfleet-${req.role}`;
    progress.step(`inputs ${contentHash} staged: image ${image}, family ${family}`);

    if (needsPlugins(version)) {
      progress.step('packer init (installs the googlecompute plugin)');
      await init(cmd, template.dir);
    }

    const outDir = join(resolve(req.outputDir), req.target);
    await mkdir(outDir, { recursive: true });
    const logPath = join(outDir, `${image}.packer.log`);
    const log = createWriteStream(logPath);
    const only = req.only ?? buildName(req.role, req.target);
    progress.step(`packer build -only=${only}`);
    let result: Awaited<ReturnType<typeof runBuild>>;
    try {
      result = await runBuild({
        cmd,
        templateDir: template.dir,
        only,
        // The wrapper's own variables last: --var cannot replace them.
        vars: {
          ...req.vars,
          project_id: req.project ?? DRY_RUN_PROJECT,
          zone: req.zone,
          image_family: family,
          wsfleet_version: VERSION,
          content_hash: contentHash,
          staging_dir: staged.dir,
        },
        timeoutMs: req.buildTimeoutMs,
        logPath,
        onLine: (line) => log.write(`${line}\n`),
        onEvent: (event) => progress.event(event),
        ...(deps.cancelSignal === undefined ? {} : { cancelSignal: deps.cancelSignal }),
      });
    } catch (err) {
      if (err instanceof ImageError && err.code === 'WSFLEET_IMAGE_BUILD_FAILED') {
        const hidden = progress.hidden();
        if (hidden.length > 0) {
          deps.write(`Last output not shown above:\n${hidden.map((l) => `  ${l}`).join('\n')}\n`);
        }
      }
      throw err;
    } finally {
      await new Promise<void>((done) => log.end(done));
    }

    const artifactId = result.artifact.id ?? '';
    if (req.target === 'gce' && artifactId !== image) {
      progress.step(
        `warning: packer named the image ${artifactId}, not ${image}; the manifest records packer's name`,
      );
    }
    if (checks !== undefined) {
      // Secure Boot needs it; `images describe` tells what Google recorded, not what was asked.
      const problems = await checkImages(checks, req.project ?? '', [artifactId]);
      if (problems.length > 0)
        throw new ImageError('WSFLEET_IMAGE_BUILD_FAILED', `${problems.join('\n')}\nFull log: ${logPath}`);
    }
    const manifest: ImageManifest = {
      format: MANIFEST_FORMAT,
      role: req.role,
      target: req.target,
      image: req.target === 'gce' ? artifactId : image,
      imageFamily: family,
      artifactId,
      project: req.project ?? null,
      zone: req.target === 'gce' ? req.zone : null,
      wsfleetVersion: VERSION,
      contentHash,
      templateHash: template.hash,
      nodeVersion: pin.version,
      packerVersion: formatVersion(version),
      gitRevision: await gitRevision(deps.paths.checkout),
      builtAt: new Date(now()).toISOString(),
      durationMs: now() - started,
    };
    const manifestPath = join(outDir, `${image}.json`);
    await writeJsonAtomic(manifestPath, manifest);
    progress.step(`manifest ${manifestPath}`);
    return { manifest, manifestPath, logPath };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
