/**
 * The headline: each system's median over its rounds, the ratios wsfleet / Socket.IO, and the
 * goals with met / not met. Medians, because the machine is shared and single runs vary.
 */
import { fixed, int, kb, ratio, table } from './format.ts';
import type { Goal, GoalStatus } from './goal.ts';
import type { Results } from './report.ts';
import { rotationGoal } from './rotation-report.ts';
import type { ThroughputResult } from './throughput-scenario.ts';

/** The goals, as stated for wsfleet; 1 KB = 1024 bytes. */
export const GOALS = {
  memoryBytesPerConnection: 6 * 1024,
  memoryRatioToPeer: 0.5,
  throughputRatioToPeer: 3,
  crossNodeP99Ms: 10,
} as const;

export interface SystemSummary {
  readonly system: string;
  readonly label: string;
  readonly rounds: number;
  /** Subscribers of the runs, both nodes together. */
  readonly subscribers: number;
  readonly deliveredPerSecond: number;
  readonly serverCpuUsPerDelivery: number;
  readonly crossNodeP99Ms: number;
  readonly floorCrossNodeP99Ms: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

type Run = Omit<ThroughputResult, 'profiles'>;

export function summarizeSystems(runs: readonly Run[]): SystemSummary[] {
  const ids = [...new Set(runs.map((r) => r.system))];
  return ids.map((id) => {
    const mine = runs.filter((r) => r.system === id);
    const of = (f: (r: Run) => number): number => median(mine.map(f));
    return {
      system: id,
      label: mine[0]?.label ?? id,
      rounds: mine.length,
      subscribers: of((r) => r.subscribers.A + r.subscribers.B),
      deliveredPerSecond: of((r) => r.saturation.deliveredPerSecond),
      serverCpuUsPerDelivery: of((r) => r.saturation.serverCpuUsPerDelivery),
      crossNodeP99Ms: of((r) => r.latency.crossNode.p99Ms),
      floorCrossNodeP99Ms: of((r) => r.latencyFloor?.crossNode.p99Ms ?? Number.NaN),
    };
  });
}

/** Rows of every scale; ratios compare with Socket.IO at the same subscriber count. */
export function summaryTable(summaries: readonly SystemSummary[]): string {
  return table(
    [
      'system (median of rounds)',
      'subscribers',
      'rounds',
      'delivered/s',
      'vs Socket.IO',
      'server µs/delivery',
      'Socket.IO / it',
      'p99 B half ms',
      'p99 B floor ms',
    ],
    summaries.map((s) => {
      const peer = summaries.find((p) => p.system === 'socketio' && p.subscribers === s.subscribers);
      return [
        s.label,
        int(s.subscribers),
        String(s.rounds),
        int(s.deliveredPerSecond),
        peer === undefined ? '–' : ratio(s.deliveredPerSecond, peer.deliveredPerSecond),
        fixed(s.serverCpuUsPerDelivery, 2),
        peer === undefined ? '–' : ratio(peer.serverCpuUsPerDelivery, s.serverCpuUsPerDelivery),
        fixed(s.crossNodeP99Ms, 2),
        fixed(s.floorCrossNodeP99Ms, 2),
      ];
    }),
  );
}

const status = (ok: boolean | undefined): GoalStatus =>
  ok === undefined ? 'not measured' : ok ? 'met' : 'not met';

/** The p99 goal at one scale: the fan-out runs' subscriber count or the latency runs' one. */
function p99Goal(summary: SystemSummary | undefined, fallbackSubscribers: number): Goal {
  const p99 =
    summary === undefined || Number.isNaN(summary.crossNodeP99Ms) ? undefined : summary.crossNodeP99Ms;
  return {
    goal:
      `p99 publish→deliver across nodes ≤ ${GOALS.crossNodeP99Ms} ms at ½ saturation, ` +
      `${int(summary?.subscribers ?? fallbackSubscribers)} subscribers`,
    measured: p99 === undefined ? '–' : `${fixed(p99, 2)} ms`,
    status: status(p99 === undefined ? undefined : p99 <= GOALS.crossNodeP99Ms),
  };
}

/**
 * `summaries`: the fan-out runs (BENCH_SUBSCRIBERS); `latencySummaries`: the runs at
 * BENCH_LATENCY_SUBSCRIBERS, each with its own saturation.
 */
export function evaluateGoals(
  results: Results,
  summaries: readonly SystemSummary[],
  latencySummaries: readonly SystemSummary[],
  scale: { readonly subscribers: number; readonly latencySubscribers: number },
): Goal[] {
  const wsMem = results.memory.find((r) => r.system === 'wsfleet');
  const ioMem = results.memory.find((r) => r.system === 'socketio');
  const ws = summaries.find((s) => s.system === 'wsfleet');
  const io = summaries.find((s) => s.system === 'socketio');
  const memRatio = wsMem && ioMem ? wsMem.perConnectionBytes / ioMem.perConnectionBytes : undefined;
  const thrRatio = ws && io ? ws.deliveredPerSecond / io.deliveredPerSecond : undefined;
  return [
    {
      goal: `memory per idle connection ≤ ${GOALS.memoryBytesPerConnection / 1024} KB`,
      measured: wsMem ? `${kb(wsMem.perConnectionBytes)} KB (marginal ${kb(wsMem.marginalBytes)} KB)` : '–',
      status: status(wsMem && wsMem.perConnectionBytes <= GOALS.memoryBytesPerConnection),
    },
    {
      goal: `memory per idle connection ≤ ${GOALS.memoryRatioToPeer}× Socket.IO's`,
      measured: memRatio === undefined ? '–' : `${fixed(memRatio, 2)}×`,
      status: status(memRatio === undefined ? undefined : memRatio <= GOALS.memoryRatioToPeer),
    },
    {
      goal: `cross-node delivered messages/s ≥ ${GOALS.throughputRatioToPeer}× Socket.IO's`,
      measured: thrRatio === undefined ? '–' : `${fixed(thrRatio, 2)}×`,
      status: status(thrRatio === undefined ? undefined : thrRatio >= GOALS.throughputRatioToPeer),
    },
    p99Goal(ws, scale.subscribers),
    ...(scale.latencySubscribers > 0
      ? [
          p99Goal(
            latencySummaries.find((s) => s.system === 'wsfleet'),
            scale.latencySubscribers,
          ),
        ]
      : []),
    rotationGoal(results.rotation),
  ];
}

export function goalsTable(goals: readonly Goal[]): string {
  return table(
    ['goal (wsfleet)', 'measured', 'status'],
    goals.map((g) => [g.goal, g.measured, g.status]),
    'lrl',
  );
}
