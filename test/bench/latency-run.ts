/**
 * One latency run: an open loop publishes at a fixed rate, and every subscriber records
 * receive − send (CLOCK_MONOTONIC, carried in the payload) for every delivery, per node.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SubscriberPool } from './client-pool.ts';
import { type LatencySummary, summarize } from './histogram.ts';
import {
  between,
  type CpuShare,
  DRAIN_TIMEOUT_MS,
  drain,
  mark,
  type Publisher,
  type Roles,
} from './marks.ts';

/** Publishing runs this long before latencies count (at most 1 s, at most half the run). */
const latencyWarmupSeconds = (seconds: number): number => Math.min(1, seconds / 2);

export interface LatencyRun {
  readonly targetPublishRate: number;
  readonly publishedPerSecond: number;
  readonly deliveredPerSecond: number;
  /** Deliveries / (publications × subscribers) within the run: below 1 when a backlog grew. */
  readonly keptUp: number;
  readonly cpu: CpuShare;
  readonly crossNode: LatencySummary;
  readonly local: LatencySummary;
}

export async function latencyRun(
  pool: SubscriberPool,
  publisher: Publisher,
  roles: Roles,
  rate: number,
  seconds: number,
  subscribers: number,
): Promise<LatencyRun> {
  publisher.send({ type: 'rate', perSecond: rate });
  await sleep(latencyWarmupSeconds(seconds) * 1000);
  pool.startLatency();
  const from = await mark(pool, publisher, roles);
  await sleep(seconds * 1000);
  const histograms = await pool.stopLatency();
  const to = await mark(pool, publisher, roles);
  await publisher.request({ type: 'stop' }, 'stopped', 5_000);
  await drain(pool, DRAIN_TIMEOUT_MS);
  const phase = between(from, to);
  const delivered = phase.deliveredA + phase.deliveredB;
  return {
    targetPublishRate: rate,
    publishedPerSecond: phase.published / phase.seconds,
    deliveredPerSecond: delivered / phase.seconds,
    keptUp: phase.published === 0 ? Number.NaN : delivered / (phase.published * subscribers),
    cpu: phase.cpu,
    crossNode: summarize(histograms.B),
    local: summarize(histograms.A),
  };
}
