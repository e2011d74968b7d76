/**
 * Bundles the CLI and every daemon into one ESM file, dist/wsfleet.js: what `npm ci` links as the
 * `wsfleet` bin, what the tests spawn, and what the images carry. Let's Encrypt's staging roots go
 * beside it, where cert-sync looks for them (daemons/cert-sync/trust.ts).
 */
import { chmod, copyFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE = `${ROOT}dist/wsfleet.js`;
export const STAGING_ROOTS_SOURCE = `${ROOT}daemons/cert-sync/letsencrypt-staging-roots.pem`;

export async function build(): Promise<string> {
  await esbuild({
    entryPoints: [`${ROOT}cli/wsfleet.ts`],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // ws loads these optional native helpers when present; the images do not ship them.
    external: ['bufferutil', 'utf-8-validate'],
    banner: {
      // CommonJS dependencies (pino, ioredis) call require(); give the ESM bundle one.
      js: "#!/usr/bin/env node\nimport { createRequire as __wsfleetRequire } from 'node:module';\nconst require = __wsfleetRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  await chmod(BUNDLE, 0o755);
  await copyFile(STAGING_ROOTS_SOURCE, `${ROOT}dist/letsencrypt-staging-roots.pem`);
  return BUNDLE;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build();
}
