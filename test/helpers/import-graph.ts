/**
 * The import graph of the repository's own TypeScript: every relative import of every file
 * (static, type-only, re-exports and dynamic `import('…')` alike, as the TypeScript compiler's
 * own pre-processor reads them), and the cycles in it (Tarjan's strongly connected components).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import ts from 'typescript';

/** File (repository-relative, `/`-separated) → the files it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

const SKIP = new Set(['node_modules', 'dist', '.git', 'coverage', '.bench']);

async function tsFiles(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (SKIP.has(entry.name)) continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await tsFiles(root, path)));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** The relative imports of one source text, resolved against its file. */
export function importsOf(file: string, text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((ref) => ref.fileName)
    .filter((name) => name.startsWith('./') || name.startsWith('../'))
    .map((name) => posix.normalize(posix.join(posix.dirname(file), name)));
}

/** Reads every .ts file under the given folders of `root` (`.`: the whole tree). */
export async function readImportGraph(root: string, folders: readonly string[]): Promise<ImportGraph> {
  const graph = new Map<string, string[]>();
  for (const folder of folders) {
    for (const file of await tsFiles(resolve(root), folder === '.' ? '' : folder)) {
      graph.set(file, importsOf(file, await readFile(join(root, file), 'utf8')));
    }
  }
  return graph;
}

/** Every cycle of the graph, as its strongly connected component (sorted), largest first. */
export function findCycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];

  // Iterative, so a long import chain cannot overflow the call stack.
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work: Array<{ node: string; edge: number }> = [{ node: start, edge: 0 }];
    index.set(start, next);
    low.set(start, next);
    next += 1;
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: string; edge: number };
      const edges = graph.get(frame.node) ?? [];
      if (frame.edge < edges.length) {
        const to = edges[frame.edge] as string;
        frame.edge += 1;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next);
          next += 1;
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(to) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined)
        low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member === undefined) break;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfImport = component.length === 1 && edges.includes(frame.node);
        if (component.length > 1 || selfImport) cycles.push(component.sort());
      }
    }
  }
  return cycles.sort((a, b) => b.length - a.length);
}
