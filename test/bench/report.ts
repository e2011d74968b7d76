/**
 * The detail tables of the report: memory, throughput and latency per run, run health, profiles.
 * Ratios compare with the median of Socket.IO's runs.
 */

import type { FloorResult } from './floor-scenario.ts';
import { fixed, int, kb, ratio, table } from './format.ts';
import type { LatencySummary } from './histogram.ts';
import type { MemoryResult } from './memory-scenario.ts';
import type { ProfileSummary } from './profile.ts';
import type { RotationResult } from './rotation-scenario.ts';
import type { ThroughputResult } from './throughput-scenario.ts';

type Run = Omit<ThroughputResult, 'profiles'>;

/** A run's name in the tables: the system, and the round when there are several. */
function runLabel(r: Run, rows: readonly Run[]): string {
  return rows.some((o) => o.round > 1) ? `${r.label} #${r.round}` : r.label;
}

export interface Failure {
  readonly system: string;
  readonly phase: 'memory' | 'floor' | 'throughput' | 'latency' | 'rotation';
  readonly error: string;
}

export interface Results {
  readonly memory: readonly MemoryResult[];
  readonly floor: readonly FloorResult[];
  readonly throughput: readonly Run[];
  /** The same runs at BENCH_LATENCY_SUBSCRIBERS: their own saturation, then latency at a fraction of it. */
  readonly latencyScale: readonly Run[];
  readonly rotation: readonly RotationResult[];
  readonly profiles: Readonly<Record<string, { readonly A: ProfileSummary; readonly B: ProfileSummary }>>;
  readonly failures: readonly Failure[];
}

export function memoryTable(rows: readonly MemoryResult[]): string {
  const peer = rows.find((r) => r.system === 'socketio');
  return table(
    [
      'system',
      'conns',
      'RSS before MB',
      'RSS after MB',
      'KB/conn',
      'marginal KB/conn',
      'heap KB/conn',
      'vs Socket.IO',
    ],
    rows.map((r) => [
      r.label,
      int(r.connections) + (r.failed > 0 ? ` (${r.failed} failed)` : ''),
      fixed(r.rssBeforeKb / 1024),
      fixed(r.rssAfterKb / 1024),
      kb(r.perConnectionBytes),
      kb(r.marginalBytes),
      kb(r.heapPerConnectionBytes),
      peer === undefined ? '–' : ratio(r.perConnectionBytes, peer.perConnectionBytes),
    ]),
  );
}

/** `peerDeliveredPerSecond`: Socket.IO's median at a run's subscriber count. */
export function throughputTable(
  rows: readonly Run[],
  peerDeliveredPerSecond: (subscribers: number) => number,
): string {
  return table(
    [
      'system',
      'subs A+B',
      'window',
      'publishes/s',
      'delivered/s',
      'vs Socket.IO',
      'queue s',
      'CPU A',
      'CPU B',
      'CPU redis',
      'CPU clients',
      'CPU others',
      'server µs/delivery',
    ],
    rows.map((r) => [
      runLabel(r, rows),
      `${r.subscribers.A}+${r.subscribers.B}`,
      String(r.saturation.window),
      int(r.saturation.publishedPerSecond),
      int(r.saturation.deliveredPerSecond),
      ratio(r.saturation.deliveredPerSecond, peerDeliveredPerSecond(r.subscribers.A + r.subscribers.B)),
      fixed(r.saturation.queueSeconds, 2),
      fixed(r.saturation.cpu.nodeA, 2),
      fixed(r.saturation.cpu.nodeB, 2),
      fixed(r.saturation.cpu.redis, 2),
      fixed(r.saturation.cpu.subscribers + r.saturation.cpu.publisher, 2),
      fixed(r.saturation.cpu.others, 2),
      fixed(r.saturation.serverCpuUsPerDelivery, 2),
    ]),
  );
}

const ms = (l: LatencySummary, key: keyof LatencySummary): string => fixed(l[key], 2);

export function latencyTable(rows: readonly Run[], floors: readonly FloorResult[]): string {
  const runs = [
    ...floors.map((f) => ({
      label: f.label,
      subs: int(f.subscribers),
      run: 'floor',
      l: f.latency,
      crossNode: false,
    })),
    ...rows.flatMap((r) => {
      const subs = `${r.subscribers.A}+${r.subscribers.B}`;
      return [
        ...(r.latencyFloor === null
          ? []
          : [{ label: runLabel(r, rows), subs, run: 'floor', l: r.latencyFloor, crossNode: true }]),
        { label: runLabel(r, rows), subs, run: 'half', l: r.latency, crossNode: true },
      ];
    }),
  ];
  return table(
    [
      'system',
      'subs A+B',
      'load',
      'publishes/s',
      'delivered/s',
      'kept up',
      'CPU ours',
      'CPU others',
      'samples B',
      'B p50 ms',
      'B p90',
      'B p99',
      'B p99.9',
      'B max',
      'A p50',
      'A p99',
    ],
    runs.map(({ label, subs, run, l, crossNode }) => [
      label,
      subs,
      run,
      int(l.publishedPerSecond),
      int(l.deliveredPerSecond),
      fixed(l.keptUp, 3),
      fixed(l.cpu.nodeA + l.cpu.nodeB + l.cpu.redis + l.cpu.subscribers + l.cpu.publisher, 2),
      fixed(l.cpu.others, 2),
      ...(crossNode
        ? [
            int(l.crossNode.count),
            ms(l.crossNode, 'p50Ms'),
            ms(l.crossNode, 'p90Ms'),
            ms(l.crossNode, 'p99Ms'),
            ms(l.crossNode, 'p999Ms'),
            ms(l.crossNode, 'maxMs'),
          ]
        : ['–', '–', '–', '–', '–', '–']),
      ms(l.local, 'p50Ms'),
      ms(l.local, 'p99Ms'),
    ]),
  );
}

export function healthTable(rows: readonly Run[]): string {
  return table(
    [
      'system',
      'subs A+B',
      'published',
      'acked',
      'errors',
      'stalls',
      'delivered fraction',
      'dropped conns',
      'first error',
    ],
    rows.map((r) => [
      runLabel(r, rows),
      `${r.subscribers.A}+${r.subscribers.B}`,
      int(r.health.published),
      int(r.health.acked),
      int(r.health.errors),
      int(r.health.stalls),
      fixed(r.health.deliveredFraction, 4),
      int(r.health.droppedConnections),
      r.health.firstError.slice(0, 60) || r.subscribers.firstError.slice(0, 60),
    ]),
    'lrrrrrrrl',
  );
}

export function profileText(system: string, summary: { A: ProfileSummary; B: ProfileSummary }): string {
  const part = (node: string, s: ProfileSummary): string =>
    [
      `${system} node ${node}: ${s.samples} samples, idle ${fixed(s.idlePercent)} %`,
      table(
        ['self %', 'area'],
        s.areas.slice(0, 8).map((a) => [fixed(a.percent), a.name]),
        'rl',
      ),
      table(
        ['self %', 'function', 'where'],
        s.functions.map((f) => [fixed(f.percent), f.name, f.where.replace(/^.*?node_modules\//, '')]),
        'rll',
      ),
    ].join('\n');
  return [
    part('A (publishers + local subscribers)', summary.A),
    part('B (remote subscribers)', summary.B),
  ].join('\n\n');
}
