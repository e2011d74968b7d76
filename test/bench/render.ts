/** The printed report, in reading order: details first, then the medians, the goals and failures. */
import type { BenchConfig } from './config.ts';
import type { Goal } from './goal.ts';
import type { SystemSummary } from './goals.ts';
import { goalsTable, summaryTable } from './goals.ts';
import {
  healthTable,
  latencyTable,
  memoryTable,
  profileText,
  type Results,
  throughputTable,
} from './report.ts';
import { rotationNotes, rotationTable } from './rotation-report.ts';

/** Other load on the machine above this (cores) during a saturation window taints the run. */
export const BUSY_CORES = 0.25;

/**
 * `summaries` holds both scales: the fan-out runs (BENCH_SUBSCRIBERS) and the latency runs
 * (BENCH_LATENCY_SUBSCRIBERS), told apart by their subscriber count.
 */
export function renderReport(
  config: BenchConfig,
  results: Results,
  summaries: readonly SystemSummary[],
  goals: readonly Goal[],
): string {
  const peerDelivered = (subscribers: number): number =>
    summaries.find((s) => s.system === 'socketio' && s.subscribers === subscribers)?.deliveredPerSecond ??
    Number.NaN;
  const runs = [...results.throughput, ...results.latencyScale];
  const busyRuns = runs.filter((r) => r.saturation.cpu.others > BUSY_CORES).length;
  const out: string[] = [
    'Memory per idle connection: one node, N idle connections (RSS from /proc VmRSS after full GC)',
    memoryTable(results.memory),
    '',
    'Cross-node fan-out at saturation: one channel, subscribers split over nodes A and B, publishers on A;',
    `runs at ${config.subscribers} subscribers (BENCH_SUBSCRIBERS)` +
      (config.latencySubscribers > 0
        ? ` and at ${config.latencySubscribers} (BENCH_LATENCY_SUBSCRIBERS), each at its own saturation`
        : ''),
    '(CPU = cores busy in the window; "others" = the rest of the machine; queue = window ÷ publishes/s;',
    ' server µs/delivery = CPU of both nodes + Redis per delivered message)',
    throughputTable(runs, peerDelivered),
  ];
  if (busyRuns > 0) {
    out.push(
      `${busyRuns} run(s) shared the machine with over ${BUSY_CORES} cores of other load (CPU others).`,
    );
  }
  out.push(
    '',
    `Publish→deliver latency (B = across nodes, A = same node) at ${config.latencyLoad}× the saturation ` +
      `publish rate of the same subscriber count ("half") and at ${config.floorRate}/s ("floor"); ` +
      'the raw ws row is one node',
    latencyTable(runs, results.floor),
    '',
    'Run health (saturation + latency runs)',
    healthTable(runs),
  );
  if (results.rotation.length > 0) {
    out.push(
      '',
      'Certificate rotation under open WebSockets: one wsfleet node behind nginx (the shipped configuration),',
      `TLS WebSockets through nginx on one channel, a publication every ${results.rotation[0]?.publishIntervalMs} ms ` +
        '(API, straight to the app);',
      'certificate A → B by render, nginx -t and a graceful reload (the peer row: stop + start), then ' +
        `${config.rotationSeconds} s of traffic.`,
      'closed = closed by the server side from just before the rotation to the end; window msgs = publications',
      'of that time; missed = of those, not received, summed over connections; gaps = holes or repeats in any',
      "connection's offsets; serial B after = from the command to the first new handshake presenting B",
      '(servedCertificate); workers "old" = shutting down, still holding their connections; old exit = from',
      'the clients closing their connections to the old workers exiting',
      rotationTable(results.rotation),
      ...rotationNotes(results.rotation),
    );
  }
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
