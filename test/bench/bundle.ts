/**
 * Bundles the bench's child entry points (peer servers, client workers) into plain .mjs files,
 * so that every server, wsfleet's dist bundle included, runs as plain `node file.mjs` without a
 * TypeScript loader in the process. Dependencies stay external and resolve from node_modules.
 */
import { build } from 'esbuild';

export const ENTRY_POINTS = [
  'socketio-node',
  'ws-node',
  'subscriber-worker',
  'publisher-worker',
  'rotation-worker',
] as const;
export type EntryPoint = (typeof ENTRY_POINTS)[number];

/** Writes `<outDir>/<entry>.mjs` for every entry point; returns the path of each. */
export async function bundleEntryPoints(outDir: string): Promise<Record<EntryPoint, string>> {
  const here = new URL('.', import.meta.url).pathname;
  await build({
    entryPoints: ENTRY_POINTS.map((name) => `${here}${name}.ts`),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  const paths = {} as Record<EntryPoint, string>;
  for (const name of ENTRY_POINTS) paths[name] = `${outDir}/${name}.mjs`;
  return paths;
}
