/**
 * Summarises a V8 CPU profile: self time per function and per area (a package or a source file),
 * mapped back through the bundle's source map when there is one, so that time spent in a bundled
 * dependency (ws, ioredis, pino inside dist/wsfleet.js) is named as such.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CpuProfile } from './inspector.ts';

export interface ProfileLine {
  readonly name: string;
  readonly where: string;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly samples: number;
  /** Share of samples in which the process was not running JavaScript nor GC. */
  readonly idlePercent: number;
  readonly functions: readonly ProfileLine[];
  readonly areas: readonly ProfileLine[];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

type Segment = readonly [genCol: number, source: number, line: number];

interface SourceMap {
  readonly sources: readonly string[];
  readonly lines: readonly (readonly Segment[])[];
}

/** Decodes the `mappings` of a v3 source map into per-line segments (names are not needed). */
function decodeMap(json: { sources: string[]; mappings: string }): SourceMap {
  const lines: Segment[][] = [];
  let source = 0;
  let line = 0;
  for (const text of json.mappings.split(';')) {
    const segments: Segment[] = [];
    let genCol = 0;
    for (const seg of text.split(',')) {
      if (seg === '') continue;
      const values: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += values[0] ?? 0;
      // Original columns are not needed: a line is precise enough to name a function.
      if (values.length >= 4) {
        source += values[1] ?? 0;
        line += values[2] ?? 0;
        segments.push([genCol, source, line]);
      }
    }
    lines.push(segments);
  }
  return { sources: json.sources, lines };
}

const maps = new Map<string, SourceMap | null>();

function mapFor(url: string): SourceMap | null {
  if (!url.startsWith('file://')) return null;
  const cached = maps.get(url);
  if (cached !== undefined) return cached;
  const file = `${fileURLToPath(url)}.map`;
  const map = existsSync(file) ? decodeMap(JSON.parse(readFileSync(file, 'utf8'))) : null;
  maps.set(url, map);
  return map;
}

/** `path:line` in the original source when a source map says so, else in the running file. */
function locate(url: string, line: number, column: number): string {
  const map = mapFor(url);
  const segments = map?.lines[line];
  if (map !== null && segments !== undefined) {
    let found: Segment | undefined;
    for (const seg of segments) {
      if (seg[0] > column) break;
      found = seg;
    }
    if (found !== undefined) return `${map.sources[found[1]] ?? '?'}:${found[2] + 1}`;
  }
  return `${url}:${line + 1}`;
}

/** The package (or project file) a location belongs to. */
function areaOf(where: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(where);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (where.startsWith('node:')) return where.replace(/:\d+$/, '').replace('internal/', '');
  if (where.startsWith(':')) return '(native)';
  return where.replace(/^.*?(daemons|test)\//, '$1/').replace(/:\d+$/, '');
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byFunction = new Map<string, { name: string; where: string; hits: number }>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    total += hits;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += hits;
      continue;
    }
    const where = url === '' ? '' : locate(url, lineNumber, columnNumber);
    const name = functionName === '' ? '(anonymous)' : functionName;
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { name, where, hits: 0 };
    entry.hits += hits;
    byFunction.set(key, entry);
    const area = where === '' ? name : areaOf(where);
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }
  const pct = (hits: number): number => (total === 0 ? 0 : (100 * hits) / total);
  return {
    samples: total,
    idlePercent: pct(idle),
    functions: [...byFunction.values()]
      .sort((a, b) => b.hits - a.hits)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, percent: pct(f.hits) })),
    areas: [...byArea.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, where: '', percent: pct(hits) })),
  };
}
