/**
 * Bundle sizes of wsfleet/client and of the clients it is compared with, measured one way:
 * esbuild bundles and minifies each package's browser ESM entry (everything it imports
 * included), then gzip -9. `npx tsx scripts/bundle-sizes.ts` prints a table.
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { BROWSERS, ROOT } from './build.ts';

export interface BundleSize {
  readonly name: string;
  readonly minified: number;
  readonly gzipped: number;
}

/** Budget of wsfleet/client, min+gzip (README "Client"); a test holds the bundle to it. */
export const CLIENT_BUDGET_BYTES = 5 * 1024;

/** min+gzip of a module that imports everything `entry` exports. */
export async function bundleSize(name: string, entry: string): Promise<BundleSize> {
  const result = await build({
    stdin: { contents: `export * from ${JSON.stringify(entry)};`, resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: BROWSERS,
    write: false,
    logLevel: 'silent',
  });
  const bytes = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { name, minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length };
}

export const COMPARED: readonly [string, string][] = [
  ['wsfleet/client', './client/index.ts'],
  ['centrifuge', 'centrifuge'],
  ['socket.io-client', 'socket.io-client'],
];

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await Promise.all(COMPARED.map(([name, entry]) => bundleSize(name, entry)));
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  console.log('| package | minified | min+gzip |\n| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${kb(r.minified)} | ${kb(r.gzipped)} (${r.gzipped} B) |`);
}
