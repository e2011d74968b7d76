/**
 * Memory per idle connection: one fresh node, a short warm-up (so the connect path is compiled
 * before the baseline), then N idle connections opened in two halves. After each step the node is
 * garbage-collected through its inspector and its VmRSS read from /proc.
 *
 * - perConnection = (RSS with N − RSS before any) / N: the figure the goal is stated in.
 * - marginal = (RSS with N − RSS with N/2) / (N/2): what one more connection costs once the
 *   process's fixed growth (young generation, compiled code, buffers) is already paid.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SubscriberPool } from './client-pool.ts';
import { collectGarbage, type HeapFigures } from './inspector.ts';
import { rssKb } from './processes.ts';
import { nodeUrl, type System } from './systems.ts';

const WARMUP_CONNECTIONS = 200;

export interface MemoryResult {
  readonly system: string;
  readonly label: string;
  readonly connections: number;
  readonly failed: number;
  readonly firstError: string;
  readonly openSeconds: number;
  readonly rssBeforeKb: number;
  readonly rssHalfKb: number;
  readonly rssAfterKb: number;
  /** Bytes of RSS per connection, from the baseline. */
  readonly perConnectionBytes: number;
  /** Bytes of RSS per connection over the second half only. */
  readonly marginalBytes: number;
  /** Bytes of V8 heap (used) per connection, from the baseline. */
  readonly heapPerConnectionBytes: number;
}

async function settle(
  inspectorPort: number,
  pid: number,
  settleMs: number,
): Promise<{ rss: number; heap: HeapFigures }> {
  const heap = await collectGarbage(inspectorPort, settleMs);
  return { rss: rssKb(pid), heap };
}

export async function measureMemory(
  system: System,
  pool: SubscriberPool,
  connections: number,
  redisUrl: string,
  logDir: string,
  settleMs: number,
): Promise<MemoryResult> {
  const node = await system.startNode(`${system.id}-memory`, redisUrl, logDir);
  try {
    const url = (): string => nodeUrl(system, node);
    const warm = await pool.open(
      system.dialect,
      [{ url: url(), node: 'A', count: WARMUP_CONNECTIONS }],
      null,
      60_000,
    );
    if (warm.opened === 0) throw new Error(`${system.label}: no connection opened: ${warm.firstError}`);
    await pool.close();
    await sleep(500);
    const before = await settle(node.inspectorPort, node.pid, settleMs);

    const half = Math.floor(connections / 2);
    const first = await pool.open(system.dialect, [{ url: url(), node: 'A', count: half }], null, 120_000);
    const mid = await settle(node.inspectorPort, node.pid, settleMs);
    const second = await pool.open(
      system.dialect,
      [{ url: url(), node: 'A', count: connections - half }],
      null,
      120_000,
    );
    const after = await settle(node.inspectorPort, node.pid, settleMs);
    await pool.close();

    const opened = first.opened + second.opened;
    return {
      system: system.id,
      label: system.label,
      connections: opened,
      failed: first.failed + second.failed,
      firstError: first.firstError || second.firstError,
      openSeconds: first.seconds + second.seconds,
      rssBeforeKb: before.rss,
      rssHalfKb: mid.rss,
      rssAfterKb: after.rss,
      perConnectionBytes: ((after.rss - before.rss) * 1024) / opened,
      marginalBytes: ((after.rss - mid.rss) * 1024) / second.opened,
      heapPerConnectionBytes: (after.heap.heapUsed - before.heap.heapUsed) / opened,
    };
  } finally {
    await node.stop();
  }
}
