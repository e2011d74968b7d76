/**
 * The latency floor of this machine: a bare `ws` server on one node broadcasting to as many
 * subscribers as one cluster node holds, loaded by the same clients at the same low rate as the
 * systems' floor runs. No Redis, no protocol, one `send` per subscriber: whatever latency remains
 * here is the cost of writing to and reading from that many sockets on this machine.
 */
import type { SubscriberPool } from './client-pool.ts';
import { type LatencyRun, latencyRun } from './latency-run.ts';
import type { Publisher } from './marks.ts';
import { nodeUrl, type System } from './systems.ts';
import { Worker } from './workers.ts';

export interface FloorResult {
  readonly system: string;
  readonly label: string;
  readonly subscribers: number;
  readonly latency: LatencyRun;
}

export async function measureFanoutFloor(
  system: System,
  pool: SubscriberPool,
  publisherScript: string,
  subscribers: number,
  rate: number,
  seconds: number,
  payloadBytes: number,
  logDir: string,
): Promise<FloorResult> {
  const node = await system.startNode(`${system.id}-fanout`, '', logDir);
  const publisher: Publisher = new Worker(publisherScript, `${logDir}/publisher-floor.log`, 'publisher');
  try {
    const url = nodeUrl(system, node);
    const opened = await pool.open(
      system.dialect,
      [{ url, node: 'A', count: subscribers }],
      'floor',
      120_000,
    );
    if (opened.opened === 0) throw new Error(`no subscriber connected: ${opened.firstError}`);
    const pub = await publisher.request(
      { type: 'open', dialect: system.dialect, url, connections: 1, channel: 'floor', payloadBytes },
      'opened',
      30_000,
    );
    if (pub.opened === 0) throw new Error(`no publisher connected: ${pub.firstError}`);
    const roles = {
      nodeA: node.pid,
      nodeB: null,
      redis: null,
      subscribers: pool.pids,
      publisher: publisher.pid,
    };
    const latency = await latencyRun(pool, publisher, roles, rate, seconds, opened.opened);
    await Promise.all([pool.close(), publisher.request({ type: 'close' }, 'closed', 15_000)]);
    return { system: system.id, label: system.label, subscribers: opened.opened, latency };
  } finally {
    await Promise.all([publisher.stop(), node.stop()]);
  }
}
