/**
 * Builds what ships:
 * - dist/wsfleet.js: the CLI and every daemon in one ESM file (what `npm ci` links as the
 *   `wsfleet` bin, what the tests spawn, and what the images carry), with the demo page
 *   (demo/page.html and demo/main.ts bundled on wsfleet/client) inlined; Let's Encrypt's
 *   staging roots go beside it, where cert-sync looks for them (daemons/cert-sync/trust.ts);
 * - dist/client/: wsfleet/client as one ESM file and its type declarations (`npm run build`
 *   and `npm pack` make it; the test set-up needs only the CLI).
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE = `${ROOT}dist/wsfleet.js`;
export const STAGING_ROOTS_SOURCE = `${ROOT}daemons/cert-sync/letsencrypt-staging-roots.pem`;
export const CLIENT_DIR = `${ROOT}dist/client`;
/** Browsers the demo page and wsfleet/client are built for: those with WebSocket, private fields and async iteration. */
export const BROWSERS = ['es2022', 'chrome100', 'firefox100', 'safari15.4'];

/** The demo page: its HTML with the bundled, minified script inlined (the CSP allows inline only). */
export async function demoPage(): Promise<string> {
  const result = await esbuild({
    entryPoints: [`${ROOT}demo/main.ts`],
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: BROWSERS,
    write: false,
    logLevel: 'warning',
  });
  const script = result.outputFiles[0]?.text ?? '';
  const html = await readFile(`${ROOT}demo/page.html`, 'utf8');
  // `</script` inside a string of the script would end the element early.
  return html.replace('/*DEMO_SCRIPT*/', () => script.replace(/<\/script/gi, '<\\/script').trim());
}

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
    define: { __WSFLEET_DEMO_PAGE__: JSON.stringify(await demoPage()) },
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

/** wsfleet/client: dist/client/index.js (readable, not minified; bundlers minify) and its .d.ts files. */
export async function buildClient(): Promise<string> {
  await esbuild({
    entryPoints: [`${ROOT}client/index.ts`],
    outfile: `${CLIENT_DIR}/index.js`,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: BROWSERS,
    logLevel: 'warning',
  });
  await promisify(execFile)(process.execPath, [
    `${ROOT}node_modules/typescript/bin/tsc`,
    '-p',
    `${ROOT}client/tsconfig.build.json`,
  ]);
  // The sources import './x.ts'; the declarations sit next to index.js and name './x.js'.
  for (const name of await readdir(CLIENT_DIR)) {
    if (!name.endsWith('.d.ts')) continue;
    const path = `${CLIENT_DIR}/${name}`;
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/(from '\.\/[a-z-]+)\.ts'/g, "$1.js'"));
  }
  return CLIENT_DIR;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await build();
  await buildClient();
}
