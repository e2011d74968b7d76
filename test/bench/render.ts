/** The printed report, in reading order: details first, then the medians, the goals and failures. */
import type { BenchConfig } from './config.ts';
import type { Goal, SystemSummary } from './goals.ts';
import { goalsTable, summaryTable } from './goals.ts';
import {
  healthTable,
  latencyTable,
  memoryTable,
  profileText,
  type Results,
  throughputTable,
} from './report.ts';

/** Other load on the machine above this (cores) during a saturation window taints the run. */
export const BUSY_CORES = 0.25;

export function renderReport(
  config: BenchConfig,
  results: Results,
  summaries: readonly SystemSummary[],
  goals: readonly Goal[],
): string {
  const peerDelivered = summaries.find((s) => s.system === 'socketio')?.deliveredPerSecond ?? Number.NaN;
  const busyRuns = results.throughput.filter((r) => r.saturation.cpu.others > BUSY_CORES).length;
  const out: string[] = [
    'Memory per idle connection: one node, N idle connections (RSS from /proc VmRSS after full GC)',
    memoryTable(results.memory),
    '',
    'Cross-node fan-out at saturation: one channel, subscribers split over nodes A and B, publishers on A',
    '(CPU = cores busy in the window; "others" = the rest of the machine; queue = window ÷ publishes/s;',
    ' server µs/delivery = CPU of both nodes + Redis per delivered message)',
    throughputTable(results.throughput, peerDelivered),
  ];
  if (busyRuns > 0) {
    out.push(
      `${busyRuns} run(s) shared the machine with over ${BUSY_CORES} cores of other load (CPU others).`,
    );
  }
  out.push(
    '',
    `Publish→deliver latency (B = across nodes, A = same node) at ${config.latencyLoad}× the saturation ` +
      `publish rate ("half") and at ${config.floorRate}/s ("floor"); the raw ws row is one node, ` +
      `${Math.ceil(config.subscribers / 2)} subscribers`,
    latencyTable(results.throughput, results.floor),
    '',
    'Run health (saturation + latency runs)',
    healthTable(results.throughput),
  );
  for (const [system, summary] of Object.entries(results.profiles)) {
    out.push('', profileText(system, summary));
  }
  out.push('', summaryTable(summaries), '', goalsTable(goals));
  if (config.quick) {
    out.push(
      'Quick mode: too few connections and too short windows for the goal figures to be conclusive;',
      'fixed costs (young generation, compiled code) add 1–3 KB per connection at N=1000.',
    );
  }
  for (const f of results.failures) out.push(`FAILED ${f.system} ${f.phase}: ${f.error}`);
  return out.join('\n');
}
