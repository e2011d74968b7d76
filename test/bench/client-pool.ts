/**
 * A group of subscriber worker processes used as one: connections are split evenly over them,
 * their counts and latency histograms are added up, and their slowest-connection progress is
 * reduced to one minimum for the publisher's flow control.
 */
import type { DialectName } from './dialects.ts';
import { type HistogramData, mergeHistograms } from './histogram.ts';
import type { FromSubscriber, Target, ToSubscriber } from './messages.ts';
import { Worker } from './workers.ts';

/** Connection attempts in flight per worker: below the servers' listen backlog. */
const OPEN_CONCURRENCY = 64;

export interface OpenResult {
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string;
  readonly seconds: number;
}

/** Worker `w`'s part of `count` connections split evenly over `workers` (the first ones take the rest). */
export function shareOf(count: number, workers: number, w: number): number {
  return Math.floor(count / workers) + (w < count % workers ? 1 : 0);
}

/** The workers' `opened` replies added up, timed from `started` (a `performance.now()`). */
export function addOpened(replies: readonly Omit<OpenResult, 'seconds'>[], started: number): OpenResult {
  return {
    opened: replies.reduce((n, r) => n + r.opened, 0),
    failed: replies.reduce((n, r) => n + r.failed, 0),
    firstError: replies.find((r) => r.firstError !== '')?.firstError ?? '',
    seconds: (performance.now() - started) / 1000,
  };
}

export interface Counts {
  readonly A: number;
  readonly B: number;
  readonly lost: number;
}

export class SubscriberPool {
  private readonly workers: Worker<ToSubscriber, FromSubscriber>[];
  private readonly sourceAddresses: boolean;
  private nextId = 1;

  constructor(script: string, size: number, logDir: string, sourceAddresses: boolean) {
    this.workers = Array.from(
      { length: size },
      (_, i) =>
        new Worker<ToSubscriber, FromSubscriber>(script, `${logDir}/subscriber-${i}.log`, `subscriber-${i}`),
    );
    this.sourceAddresses = sourceAddresses;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  /** Opens every target's connections, split evenly over the workers (bounded by `timeoutMs`). */
  async open(
    dialect: DialectName,
    targets: readonly Target[],
    channel: string | null,
    timeoutMs: number,
  ): Promise<OpenResult> {
    const started = performance.now();
    const k = this.workers.length;
    const replies = await Promise.all(
      this.workers.map((worker, w) =>
        worker.request(
          {
            type: 'open',
            dialect,
            targets: targets.map((t) => ({
              ...t,
              count: shareOf(t.count, k, w),
            })),
            channel,
            concurrency: OPEN_CONCURRENCY,
            // 127.0.0.2, 127.0.0.3, …: each worker gets its own range of ephemeral ports.
            localAddress: this.sourceAddresses ? `127.0.0.${2 + w}` : null,
          },
          'opened',
          timeoutMs,
        ),
      ),
    );
    return addOpened(replies, started);
  }

  async counts(): Promise<Counts> {
    const id = this.nextId++;
    const replies = await Promise.all(
      this.workers.map((w) => w.request({ type: 'counts', id }, 'counts', 5_000, (r) => r.id === id)),
    );
    return {
      A: replies.reduce((n, r) => n + r.A, 0),
      B: replies.reduce((n, r) => n + r.B, 0),
      lost: replies.reduce((n, r) => n + r.lost, 0),
    };
  }

  /** Calls `onMin` whenever the smallest delivery count over all connections grows. */
  trackProgress(intervalMs: number, onMin: (min: number) => void): () => void {
    const mins = this.workers.map(() => -1);
    let last = -1;
    const offs = this.workers.map((worker, w) =>
      worker.on('progress', ({ min }) => {
        mins[w] = min;
        const overall = Math.min(...mins);
        // Infinity: no worker has a live subscriber left, so there is nothing to wait for.
        if (overall > last && Number.isFinite(overall)) {
          last = overall;
          onMin(overall);
        }
      }),
    );
    for (const worker of this.workers) worker.send({ type: 'progress', intervalMs });
    return () => {
      for (const off of offs) off();
    };
  }

  startLatency(): void {
    for (const worker of this.workers) worker.send({ type: 'latency', on: true });
  }

  async stopLatency(): Promise<{ A: HistogramData; B: HistogramData }> {
    const replies = await Promise.all(
      this.workers.map((w) => w.request({ type: 'latency', on: false }, 'latency', 10_000)),
    );
    return { A: mergeHistograms(replies.map((r) => r.A)), B: mergeHistograms(replies.map((r) => r.B)) };
  }

  /** Closes every connection (the workers stay, ready to open again). */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ type: 'close' }, 'closed', 15_000)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
