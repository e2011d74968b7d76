/**
 * The local build (`--target local`): a Debian 12 root filesystem provisioned by the same
 * install.sh and finalize.sh as the GCE image, for systemd-nspawn machines (the lab, the VM
 * tests). Two cached layers, each keyed by a hash of what it is made from:
 *
 *   base   mmdebstrap of bookworm with the packages the role needs (install.sh --print-packages)
 *          and what a GCE Debian image has that minbase lacks (systemd as PID 1, dbus, procps).
 *          Changes only with the package lists: about 40 s when it does.
 *   image  a copy of the base, then install.sh --root and finalize.sh --root over the staged
 *          inputs: a few seconds. Changes with any input (bundle, units, nginx files, scripts).
 *
 * An unchanged image is not rebuilt; the two newest images of a role are kept and older ones
 * removed, so the cache does not grow with every change.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { VERSION } from '../../daemons/shared/version.ts';
import { buildCached, lookupCache } from './cache.ts';
import { ImageError } from './errors.ts';
import { gitRevision, type ImageManifest, MANIFEST_FORMAT, writeJsonAtomic } from './manifest.ts';
import type { ImagePaths } from './paths.ts';
import { prepareInputs } from './prepare.ts';
import { createProgress, formatElapsed } from './progress.ts';
import { imageName, type Role } from './templates.ts';

export const SUITE = 'bookworm';
/** What a GCE Debian 12 image has and mmdebstrap's minbase does not: systemd as PID 1 and its bus, /bin/kill, ip. */
export const SYSTEM_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'procps', 'iproute2'] as const;
/** Images of a role kept in the cache: the newest and the one before (a rolling update's old side). */
const KEEP_PER_ROLE = 2;
const TOOLS = ['mmdebstrap', 'chroot', 'systemd-sysusers', 'systemd-tmpfiles'] as const;

export interface LocalManifest extends ImageManifest {
  /** The provisioned root filesystem, bootable with `systemd-nspawn -D <rootfs> -b`. */
  readonly rootfs: string;
  readonly baseKey: string;
}

export interface LocalBuildRequest {
  readonly role: Role;
  readonly bundle: string;
  readonly cacheDir: string;
  readonly outputDir: string;
  readonly vars?: Readonly<Record<string, string>>;
  readonly verbose?: boolean;
  readonly timeoutMs?: number;
}

export interface LocalBuildDeps {
  readonly paths: ImagePaths;
  readonly write: (text: string) => void;
  readonly now?: () => number;
  readonly cancelSignal?: AbortSignal;
}

export interface LocalImage {
  readonly manifest: LocalManifest;
  readonly manifestPath: string;
  /** True when the cache already held the image. */
  readonly cached: boolean;
}

/** Why this machine cannot build locally, or an empty list. */
export async function localBuildProblems(): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('local images are built on Linux only');
  if (process.getuid?.() !== 0)
    problems.push('local images are built as root (mmdebstrap, chroot, file ownership)');
  for (const tool of TOOLS) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false, stdin: 'ignore' });
    if (found.exitCode !== 0)
      problems.push(`${tool} is missing (Debian packages mmdebstrap, systemd, coreutils)`);
  }
  return problems;
}

function sha256(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export async function buildLocalImage(req: LocalBuildRequest, deps: LocalBuildDeps): Promise<LocalImage> {
  const now = deps.now ?? Date.now;
  const started = now();
  const progress = createProgress({ write: deps.write, now, verbose: req.verbose ?? false });
  const timeout = req.timeoutMs ?? 1_800_000;
  const problems = await localBuildProblems();
  if (problems.length > 0) {
    throw new ImageError('WSFLEET_IMAGE_TOOLS', `cannot build a local image here: ${problems.join('; ')}`);
  }
  const cacheDir = resolve(req.cacheDir);

  /** Runs a build command; its output is shown with --verbose and kept for a failure report. */
  const sh = async (file: string, args: readonly string[]): Promise<void> => {
    const child = execa(file, args, {
      reject: false,
      stdin: 'ignore',
      all: true,
      timeout,
      ...(deps.cancelSignal === undefined ? {} : { cancelSignal: deps.cancelSignal }),
    });
    for await (const line of child.iterable({ from: 'all' })) {
      const text = String(line);
      if (text.startsWith('==> ')) progress.step(text.slice(4));
      else progress.event({ kind: 'text', text });
    }
    const result = await child;
    if (result.failed) {
      const hidden = progress.hidden();
      if (hidden.length > 0)
        deps.write(`Last output not shown above:\n${hidden.map((l) => `  ${l}`).join('\n')}\n`);
      const why = result.isCanceled
        ? 'cancelled'
        : result.timedOut
          ? `no result within ${timeout} ms`
          : `exit ${result.exitCode}`;
      throw new ImageError('WSFLEET_IMAGE_BUILD_FAILED', `${file} ${args.join(' ')}: ${why}`, {
        cause: result.cause,
      });
    }
  };

  const work = await mkdtemp(join(tmpdir(), 'wsfleet-image-'));
  try {
    const { staged, pin, inputsHash, contentHash } = await prepareInputs(
      {
        paths: deps.paths,
        role: req.role,
        withPlugins: false,
        bundle: req.bundle,
        cacheDir,
        vars: req.vars ?? {},
        log: (t) => progress.step(t),
      },
      work,
    );
    const install = join(staged.dir, 'provision', 'install.sh');
    const printed = await execa('bash', [install, '--role', req.role, '--print-packages'], {
      stdin: 'ignore',
    });
    const packages = [...new Set([...SYSTEM_PACKAGES, ...printed.stdout.split('\n').filter(Boolean)])].sort();

    const baseKey = sha256(['wsfleet.local-base/1', SUITE, packages]);
    const base = await buildCached(join(cacheDir, 'rootfs-base'), baseKey, async (dir) => {
      progress.step(`mmdebstrap ${SUITE} with ${packages.join(' ')} (once per package list)`);
      await sh('mmdebstrap', [
        '--variant=minbase',
        `--include=${packages.join(',')}`,
        SUITE,
        join(dir, 'rootfs'),
      ]);
      return { suite: SUITE, packages };
    });
    if (base.hit) progress.step(`base root filesystem ${baseKey.slice(0, 12)} (cached)`);

    const image = imageName(req.role, VERSION, contentHash);
    const key = sha256(['wsfleet.local-image/1', inputsHash, baseKey]);
    const imagesDir = join(cacheDir, 'local');
    const revision = await gitRevision(deps.paths.checkout);
    const built = await buildCached<LocalManifest>(imagesDir, key, async (dir) => {
      const rootfs = join(dir, 'rootfs');
      progress.step('copying the base root filesystem');
      await sh('cp', ['-a', '--reflink=auto', join(base.dir, 'rootfs'), rootfs]);
      await sh('bash', [install, '--role', req.role, '--src', staged.dir, '--root', rootfs]);
      await sh('bash', [join(staged.dir, 'provision', 'finalize.sh'), '--root', rootfs]);
      return {
        format: MANIFEST_FORMAT,
        role: req.role,
        target: 'local',
        image,
        imageFamily: `wsfleet-${req.role}`,
        artifactId: image,
        project: null,
        zone: null,
        wsfleetVersion: VERSION,
        contentHash,
        templateHash: '',
        nodeVersion: pin.version,
        packerVersion: '',
        gitRevision: revision,
        builtAt: new Date(now()).toISOString(),
        durationMs: now() - started,
        // Where it will be once the cache renames it into place.
        rootfs: join(imagesDir, key, 'rootfs'),
        baseKey,
      };
    });
    if (built.hit) progress.step(`${image} is unchanged since ${built.manifest.builtAt}: not rebuilt`);
    else await pruneImages(imagesDir, req.role, key, (t) => progress.step(t));

    const manifestPath = join(resolve(req.outputDir), 'local', `${image}.json`);
    await writeJsonAtomic(manifestPath, built.manifest);
    progress.step(`ready in ${formatElapsed(now() - started)}: ${built.manifest.rootfs}`);
    return { manifest: built.manifest, manifestPath, cached: built.hit };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Whether a running process names a path under `dir` (a machine booted from the image). */
async function inUse(dir: string): Promise<boolean> {
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').some((arg) => arg === dir || arg.startsWith(`${dir}/`))) return true;
  }
  return false;
}

/** Removes a role's images beyond the newest KEEP_PER_ROLE (never `current`, nor one a machine runs). */
async function pruneImages(
  imagesDir: string,
  role: Role,
  current: string,
  log: (text: string) => void,
): Promise<void> {
  const entries: { key: string; builtAt: string }[] = [];
  for (const key of await readdir(imagesDir)) {
    if (key.startsWith('.') || key === current) continue;
    const found = await lookupCache<LocalManifest>(imagesDir, key).catch(() => undefined);
    if (found?.manifest.role === role) entries.push({ key, builtAt: found.manifest.builtAt });
  }
  entries.sort((a, b) => (a.builtAt < b.builtAt ? 1 : -1));
  for (const old of entries.slice(KEEP_PER_ROLE - 1)) {
    if (await inUse(join(imagesDir, old.key))) continue;
    log(`removing the older ${role} image ${old.key.slice(0, 12)} (built ${old.builtAt})`);
    await rm(join(imagesDir, old.key), { recursive: true, force: true });
  }
}
