/** `wsfleet images build <app|renewer> [--target gce|dry-run|local] [--var k=v]…` */
import { join } from 'node:path';
import type { Command } from '../../daemons/shared/command.ts';
import { helpText, wantsHelp } from '../../daemons/shared/config.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { buildImage } from './build-image.ts';
import { buildOptions, parseBuildArgs, varsRecord } from './config.ts';
import { ImageError } from './errors.ts';
import { createGcloudRead } from './gce-gcloud.ts';
import { buildLocalImage } from './local-build.ts';
import { findCheckout, imagePaths } from './paths.ts';
import { formatElapsed } from './progress.ts';

const SUMMARY = [
  'Build the VM image of a role with packer: app (nginx, the app daemon, cert-sync) or renewer.',
  'Every input is staged and hashed; the image is named wsfleet-<role>-<version>-<hash>, and a',
  'manifest (and the full packer log) is written to <output-dir>/<target>/.',
  '--target local builds a root filesystem for systemd-nspawn with mmdebstrap and the same',
  'provisioning, without packer; it is cached by its inputs, so an unchanged image is not rebuilt.',
].join('\n');

export const run: Command = async (argv, env) => {
  if (wantsHelp(argv)) {
    process.stdout.write(helpText('wsfleet images build <app|renewer> [flags]', SUMMARY, buildOptions));
    return EXIT.OK;
  }
  const { role, config } = parseBuildArgs(argv, env);
  const target = config.target;
  // Ctrl-C or SIGTERM: packer is stopped with SIGTERM and given time to delete its build VM. The
  // handlers stay until the build returns: without a listener, the signal would end this process
  // at once and leave packer unwatched.
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) return;
    process.stderr.write('wsfleet images build: stopping packer (it cleans up first)…\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const paths = imagePaths(findCheckout());
    const write = (text: string) => process.stdout.write(text);
    if (target === 'local') {
      const local = await buildLocalImage(
        {
          role,
          bundle: config.bundle ?? paths.bundle,
          cacheDir: config.cacheDir ?? join(paths.output, 'cache'),
          outputDir: config.outputDir ?? paths.output,
          vars: varsRecord(config.var),
          verbose: config.verbose,
          timeoutMs: config.buildTimeout * 1000,
        },
        { paths, write, cancelSignal: controller.signal },
      );
      write(
        `${local.cached ? 'Up to date' : 'Built'}: ${local.manifest.image} (${role}, local) at ${local.manifest.rootfs}\nManifest: ${local.manifestPath}\n`,
      );
      return EXIT.OK;
    }
    const built = await buildImage(
      {
        role,
        target,
        ...(config.project === undefined ? {} : { project: config.project }),
        zone: config.zone,
        ...(config.imageFamily === undefined ? {} : { imageFamily: config.imageFamily }),
        vars: varsRecord(config.var),
        outputDir: config.outputDir ?? paths.output,
        cacheDir: config.cacheDir ?? join(paths.output, 'cache'),
        bundle: config.bundle ?? paths.bundle,
        packer: config.packer,
        buildTimeoutMs: config.buildTimeout * 1000,
        verbose: config.verbose,
      },
      {
        paths,
        write,
        env,
        cancelSignal: controller.signal,
        ...(target === 'gce' && config.project !== undefined
          ? { gcloud: createGcloudRead({ gcloud: config.gcloud, project: config.project, env }) }
          : {}),
      },
    );
    const { manifest } = built;
    process.stdout.write(
      `${target === 'gce' ? 'Built' : 'Dry run passed for'} ${manifest.image} (${role}, family ${manifest.imageFamily}) in ${formatElapsed(manifest.durationMs)}\nManifest: ${built.manifestPath}\n`,
    );
    return EXIT.OK;
  } catch (err) {
    if (err instanceof ImageError) {
      process.stderr.write(`wsfleet images build: ${err.code}: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
};
