/**
 * The rotation run's client processes used as one: connections split evenly over them (one
 * process's `ulimit -n` caps what it can hold), their tallies added up.
 */
import { addOpened, type OpenResult, shareOf } from './client-pool.ts';
import type {
  FromRotationClient,
  RotationTally,
  RotationTarget,
  ToRotationClient,
} from './rotation-messages.ts';
import { Worker } from './workers.ts';

/** TLS handshakes in flight per process: below nginx's listen backlog (511). */
const OPEN_CONCURRENCY = 32;

function addCounts(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): Record<string, number> {
  const sum: Record<string, number> = { ...a };
  for (const [key, n] of Object.entries(b)) sum[key] = (sum[key] ?? 0) + n;
  return sum;
}

export class RotationClients {
  private readonly workers: Worker<ToRotationClient, FromRotationClient>[];
  private nextId = 1;

  constructor(script: string, size: number, logDir: string, name: string) {
    this.workers = Array.from(
      { length: size },
      (_, i) =>
        new Worker<ToRotationClient, FromRotationClient>(
          script,
          `${logDir}/${name}-client-${i}.log`,
          `${name} client ${i}`,
        ),
    );
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  async open(target: RotationTarget, count: number, timeoutMs: number): Promise<OpenResult> {
    const started = performance.now();
    const k = this.workers.length;
    const replies = await Promise.all(
      this.workers.map((worker, w) =>
        worker.request(
          {
            type: 'open',
            target,
            count: shareOf(count, k, w),
            concurrency: OPEN_CONCURRENCY,
          },
          'opened',
          timeoutMs,
        ),
      ),
    );
    return addOpened(replies, started);
  }

  /** Every connection's tally for the offsets [fromOffset, toOffset], closes counted from `sinceUs`. */
  async tally(fromOffset: number, toOffset: number, sinceUs: number): Promise<RotationTally> {
    const id = this.nextId++;
    const replies = await Promise.all(
      this.workers.map((w) =>
        w.request(
          { type: 'report', id, fromOffset, toOffset, sinceUs },
          'report',
          10_000,
          (r) => r.id === id,
        ),
      ),
    );
    const sum = (key: keyof RotationTally): number => replies.reduce((n, r) => n + (r[key] as number), 0);
    return {
      connections: sum('connections'),
      open: sum('open'),
      closed: sum('closed'),
      closedSince: sum('closedSince'),
      closeCodes: replies.reduce((acc, r) => addCounts(acc, r.closeCodes), {}),
      missed: sum('missed'),
      connectionsMissing: sum('connectionsMissing'),
      maxMissedPerConnection: Math.max(0, ...replies.map((r) => r.maxMissedPerConnection)),
      offsetGaps: sum('offsetGaps'),
      outOfOrder: sum('outOfOrder'),
      behind: sum('behind'),
      serials: replies.reduce((acc, r) => addCounts(acc, r.serials), {}),
      longestPauseMs: Math.max(0, ...replies.map((r) => r.longestPauseMs)),
    };
  }

  /** Closes every connection from the client side. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ type: 'close' }, 'closed', 15_000)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
