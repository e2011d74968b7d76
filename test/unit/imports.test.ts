import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycles, type ImportGraph, importsOf, readImportGraph } from '../helpers/import-graph.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What each part of the tree may import: imports go down, from the entry point (cli/) through
 * the deploy and the lab (scripts/) and the images and user-data to the daemons, whose own parts
 * (app, renewer, cert-sync) share only daemons/shared. Tests may import anything but cli/.
 */
const ALLOWED: ReadonlyArray<readonly [prefix: string, mayImport: readonly string[]]> = [
  ['cli/', ['daemons/', 'images/', 'scripts/', 'cloud-init/']],
  ['scripts/', ['scripts/', 'daemons/', 'images/', 'cloud-init/']],
  ['images/', ['images/', 'daemons/']],
  ['cloud-init/', ['cloud-init/', 'daemons/']],
  ['client/', ['client/', 'daemons/shared/']],
  ['demo/', ['demo/', 'client/']],
  ['daemons/shared/', ['daemons/shared/', 'package.json']],
  ['daemons/app/', ['daemons/app/', 'daemons/shared/']],
  ['daemons/renewer/', ['daemons/renewer/', 'daemons/shared/']],
  ['daemons/cert-sync/', ['daemons/cert-sync/', 'daemons/shared/']],
  ['test/', ['test/', 'daemons/', 'scripts/', 'images/', 'cloud-init/', 'client/']],
];

function layerViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const [file, imports] of graph) {
    const rule = ALLOWED.find(([prefix]) => file.startsWith(prefix));
    if (rule === undefined) {
      if (file.includes('/')) problems.push(`${file}: its folder has no rule in ALLOWED`);
      continue;
    }
    for (const target of imports) {
      if (!rule[1].some((allowed) => target.startsWith(allowed))) problems.push(`${file} imports ${target}`);
    }
  }
  return problems;
}

describe('findCycles', () => {
  it.each([
    ['a chain', { a: ['b'], b: ['c'], c: [] }, []],
    ['a diamond', { a: ['b', 'c'], b: ['d'], c: ['d'], d: [] }, []],
    ['two files importing each other', { a: ['b'], b: ['a'] }, [['a', 'b']]],
    ['a file importing itself', { a: ['a'], b: ['a'] }, [['a']]],
    ['a three-file loop behind an entry', { e: ['a'], a: ['b'], b: ['c'], c: ['a'] }, [['a', 'b', 'c']]],
    [
      'two separate loops',
      { a: ['b'], b: ['a'], c: ['d'], d: ['e'], e: ['c'] },
      [
        ['c', 'd', 'e'],
        ['a', 'b'],
      ],
    ],
    ['an import of a file outside the graph', { a: ['x'], x: [] }, []],
  ])('finds the cycles of %s', (_name, edges, cycles) => {
    expect(findCycles(new Map(Object.entries(edges)))).toEqual(cycles);
  });

  it('walks a chain of 50,000 files without overflowing the stack', () => {
    const graph = new Map<string, string[]>();
    for (let i = 0; i < 50_000; i += 1) graph.set(`f${i}`, i + 1 < 50_000 ? [`f${i + 1}`] : ['f0']);
    expect(findCycles(graph)[0]).toHaveLength(50_000);
  });
});

describe('importsOf', () => {
  it('reads static, type-only, re-exported and dynamic imports, and only relative ones', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../shared/b.ts';",
      "export { c } from './c.ts';",
      "const d = await import('../d/d.ts');",
      "import { z } from 'zod';",
      "import { readFile } from 'node:fs/promises';",
    ].join('\n');
    expect(importsOf('daemons/app/x.ts', text).sort()).toEqual(
      ['daemons/app/a.ts', 'daemons/app/c.ts', 'daemons/d/d.ts', 'daemons/shared/b.ts'].sort(),
    );
  });
});

describe('the repository', () => {
  it('has no import cycle', async () => {
    const graph = await readImportGraph(ROOT, ['.']);
    expect(graph.size).toBeGreaterThan(200);
    expect(findCycles(graph)).toEqual([]);
  });

  it('imports only down the tree (entry point → parts → shared plumbing)', async () => {
    const graph = await readImportGraph(ROOT, ['.']);
    expect(graph.has('cli/wsfleet.ts')).toBe(true);
    expect(layerViolations(graph)).toEqual([]);
  });

  it('would notice a daemon importing the entry point, or the plumbing importing a daemon', () => {
    const graph = new Map([
      ['daemons/app/main.ts', ['cli/wsfleet.ts']],
      ['daemons/shared/config.ts', ['daemons/app/config.ts']],
      ['cli/wsfleet.ts', ['daemons/app/main.ts']],
    ]);
    expect(layerViolations(graph)).toEqual([
      'daemons/app/main.ts imports cli/wsfleet.ts',
      'daemons/shared/config.ts imports daemons/app/config.ts',
    ]);
  });
});
