/**
 * Measurement marks of a load run: at one instant, every subscriber worker's delivery counts, the
 * publisher's counters and every process's CPU time; the difference of two marks is a phase's
 * figures. Also the wait for a backlog to drain between phases.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counts, SubscriberPool } from './client-pool.ts';
import type { FromPublisher, PublisherCounts, ToPublisher } from './messages.ts';
import { cpuSeconds, machineBusySeconds } from './processes.ts';
import type { Worker } from './workers.ts';

export type Publisher = Worker<ToPublisher, FromPublisher>;

/** Bounds the wait for a phase's backlog to be delivered. */
export const DRAIN_TIMEOUT_MS = 15_000;

/** The processes whose CPU time a mark reads; null where a run has no such process. */
export interface Roles {
  readonly nodeA: number;
  readonly nodeB: number | null;
  readonly redis: number | null;
  readonly subscribers: readonly number[];
  readonly publisher: number;
}

export interface CpuShare {
  /** CPU seconds used per second of wall time (1.0 = one core busy). */
  readonly nodeA: number;
  readonly nodeB: number;
  readonly redis: number;
  readonly subscribers: number;
  readonly publisher: number;
  /** Everything else on the machine (the runner, other users' jobs, kernel threads). */
  readonly others: number;
}

export interface Mark {
  readonly at: number;
  readonly counts: Counts;
  readonly published: PublisherCounts;
  readonly cpu: CpuShare;
}

let markId = 1;

function cpuOf(pid: number | null): number {
  if (pid === null) return 0;
  try {
    return cpuSeconds(pid);
  } catch {
    return Number.NaN;
  }
}

export async function mark(pool: SubscriberPool, publisher: Publisher, roles: Roles): Promise<Mark> {
  const id = markId++;
  const at = performance.now();
  const cpu: CpuShare = {
    nodeA: cpuOf(roles.nodeA),
    nodeB: cpuOf(roles.nodeB),
    redis: cpuOf(roles.redis),
    subscribers: roles.subscribers.reduce((sum, pid) => sum + cpuOf(pid), 0),
    publisher: cpuOf(roles.publisher),
    // Read as the machine total here; `between` turns it into what the roles above did not use.
    others: machineBusySeconds(),
  };
  const [counts, published] = await Promise.all([
    pool.counts(),
    publisher.request({ type: 'counts', id }, 'counts', 5_000, (r) => r.id === id),
  ]);
  return { at, counts, published, cpu };
}

export interface Phase {
  readonly seconds: number;
  readonly deliveredA: number;
  readonly deliveredB: number;
  readonly published: number;
  readonly cpu: CpuShare;
}

/** What happened between two marks. */
export function between(from: Mark, to: Mark): Phase {
  const seconds = (to.at - from.at) / 1000;
  const rate = (key: keyof CpuShare): number => (to.cpu[key] - from.cpu[key]) / seconds;
  const ours = rate('nodeA') + rate('nodeB') + rate('redis') + rate('subscribers') + rate('publisher');
  return {
    seconds,
    deliveredA: to.counts.A - from.counts.A,
    deliveredB: to.counts.B - from.counts.B,
    published: to.published.published - from.published.published,
    cpu: {
      nodeA: rate('nodeA'),
      nodeB: rate('nodeB'),
      redis: rate('redis'),
      subscribers: rate('subscribers'),
      publisher: rate('publisher'),
      others: Math.max(0, rate('others') - ours),
    },
  };
}

/** Waits until deliveries stop growing (bounded), so one phase's backlog does not leak into the next. */
export async function drain(pool: SubscriberPool, timeoutMs: number): Promise<Counts> {
  const deadline = performance.now() + timeoutMs;
  let last = await pool.counts();
  while (performance.now() < deadline) {
    await sleep(250);
    const now = await pool.counts();
    if (now.A + now.B === last.A + last.B) return now;
    last = now;
  }
  return last;
}
