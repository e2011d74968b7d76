/**
 * Where the image inputs live in a checkout. The wrapper runs from the bundle (dist/wsfleet.js)
 * or from source (images/build/*.ts), so it finds the checkout by walking up to the folder that
 * holds images/packer/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageError } from './errors.ts';

export interface ImagePaths {
  readonly checkout: string;
  /** The HCL2 templates. */
  readonly packer: string;
  /** The provisioning scripts, staged as provision/. */
  readonly provision: string;
  /** Units, drop-ins, sysusers.d and tmpfiles.d files, staged as systemd/. */
  readonly systemd: string;
  /** polkit rules, staged as polkit/. */
  readonly polkit: string;
  /** The app VM's nginx files, staged as nginx/. */
  readonly nginx: string;
  /** The default bundle, dist/wsfleet.js. */
  readonly bundle: string;
  /**
   * Let's Encrypt's staging roots as the build put them beside dist/wsfleet.js (an installed
   * package has no daemons/), staged as letsencrypt-staging-roots.pem beside the bundle.
   */
  readonly stagingRoots: string;
  /** The default home of manifests, logs and caches. */
  readonly output: string;
}

const MARKER = join('images', 'packer', 'variables.pkr.hcl');

/** The checkout that holds `from`, or an ImageError when there is none (an installed VM). */
export function findCheckout(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, MARKER))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ImageError(
        'WSFLEET_IMAGE_INPUT',
        `no checkout of wsfleet around ${from}: images are built from a clone of the repository (it needs images/packer/)`,
      );
    }
    dir = parent;
  }
}

export function imagePaths(checkout: string): ImagePaths {
  return {
    checkout,
    packer: join(checkout, 'images', 'packer'),
    provision: join(checkout, 'images', 'provision'),
    systemd: join(checkout, 'images', 'systemd'),
    polkit: join(checkout, 'images', 'polkit'),
    nginx: join(checkout, 'images', 'app', 'nginx'),
    bundle: join(checkout, 'dist', 'wsfleet.js'),
    stagingRoots: join(checkout, 'dist', 'letsencrypt-staging-roots.pem'),
    output: join(checkout, 'dist', 'images'),
  };
}
