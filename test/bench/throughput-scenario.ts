/**
 * Cross-node fan-out on a fresh two-node cluster: S subscribers on one channel, half on node A and
 * half on node B; P publishers on node A.
 *
 * 1. Saturation: a closed loop keeps at most `window` publications ahead of the slowest subscriber
 *    (end-to-end flow control, so no queue grows without bound); after a warm-up, every delivery
 *    to every subscriber is counted over a fixed window, along with each process's CPU time.
 * 2. Latency: an open loop publishes at a fixed rate — a fraction (default ½) of the saturation
 *    publish rate, and a low "floor" rate that shows the cost of one fan-out without queueing.
 *    Each payload carries its send time on CLOCK_MONOTONIC, and subscribers record
 *    receive − send for every delivery, per node (B is the cross-node figure).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SubscriberPool } from './client-pool.ts';
import { type CpuProfile, startProfile } from './inspector.ts';
import { type LatencyRun, latencyRun } from './latency-run.ts';
import {
  between,
  type CpuShare,
  DRAIN_TIMEOUT_MS,
  drain,
  mark,
  type Publisher,
  type Roles,
} from './marks.ts';
import type { PublisherCounts } from './messages.ts';
import { nodeUrl, type ServerNode, type System } from './systems.ts';
import { Worker } from './workers.ts';

export const CHANNEL = 'bench';
/** How often subscriber workers report their slowest connection's count. */
export const PROGRESS_INTERVAL_MS = 10;

export interface ThroughputSettings {
  readonly subscribers: number;
  readonly publishers: number;
  readonly window: number;
  readonly payloadBytes: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  readonly latencySeconds: number;
  readonly latencyLoad: number;
  readonly latencyRate: number;
  readonly floorRate: number;
  readonly profile: boolean;
}

export interface ThroughputResult {
  readonly system: string;
  readonly label: string;
  readonly round: number;
  readonly subscribers: {
    readonly A: number;
    readonly B: number;
    readonly failed: number;
    readonly firstError: string;
  };
  readonly saturation: {
    readonly seconds: number;
    readonly window: number;
    readonly delivered: number;
    readonly deliveredPerSecond: number;
    readonly deliveredPerSecondA: number;
    readonly deliveredPerSecondB: number;
    readonly publishedPerSecond: number;
    /** The window's worth of time: how long a publication queues at saturation (Little's law). */
    readonly queueSeconds: number;
    readonly cpu: CpuShare;
    /** Server CPU (both nodes + Redis) per delivered message, in microseconds. */
    readonly serverCpuUsPerDelivery: number;
  };
  readonly latency: LatencyRun;
  readonly latencyFloor: LatencyRun | null;
  readonly health: PublisherCounts & {
    /** Deliveries received / (accepted publications × subscribers), over the whole run. */
    readonly deliveredFraction: number;
    readonly droppedConnections: number;
  };
  readonly profiles?: { readonly A: CpuProfile; readonly B: CpuProfile };
}

export async function measureThroughput(
  system: System,
  pool: SubscriberPool,
  publisherScript: string,
  redis: { url: string; pid: number },
  settings: ThroughputSettings,
  logDir: string,
  round: number,
): Promise<ThroughputResult> {
  const nodes: ServerNode[] = [];
  // A fresh publisher per system: its counters and flow-control state start from zero.
  const publisher: Publisher = new Worker(publisherScript, `${logDir}/publisher.log`, 'publisher');
  try {
    for (const name of ['A', 'B']) {
      nodes.push(await system.startNode(`${system.id}-${name}`, redis.url, logDir));
    }
    const [nodeA, nodeB] = nodes as [ServerNode, ServerNode];
    const perA = Math.floor(settings.subscribers / 2);
    const opened = await pool.open(
      system.dialect,
      [
        { url: nodeUrl(system, nodeA), node: 'A', count: perA },
        { url: nodeUrl(system, nodeB), node: 'B', count: settings.subscribers - perA },
      ],
      CHANNEL,
      120_000,
    );
    if (opened.opened === 0) throw new Error(`no subscriber connected: ${opened.firstError}`);
    const before = await pool.counts();
    const pub = await publisher.request(
      {
        type: 'open',
        dialect: system.dialect,
        url: nodeUrl(system, nodeA),
        connections: settings.publishers,
        channel: CHANNEL,
        payloadBytes: settings.payloadBytes,
      },
      'opened',
      30_000,
    );
    if (pub.opened === 0) throw new Error(`no publisher connected: ${pub.firstError}`);

    const stopTracking = pool.trackProgress(PROGRESS_INTERVAL_MS, (min) =>
      publisher.send({ type: 'delivered', min }),
    );
    const roles: Roles = {
      nodeA: nodeA.pid,
      nodeB: nodeB.pid,
      redis: redis.pid,
      subscribers: pool.pids,
      publisher: publisher.pid,
    };

    // 1. Saturation.
    publisher.send({ type: 'saturate', window: settings.window });
    await sleep(settings.warmupSeconds * 1000);
    const stopProfiles = settings.profile
      ? await Promise.all([startProfile(nodeA.inspectorPort), startProfile(nodeB.inspectorPort)])
      : undefined;
    const s0 = await mark(pool, publisher, roles);
    await sleep(settings.seconds * 1000);
    const s1 = await mark(pool, publisher, roles);
    const profiles =
      stopProfiles === undefined ? undefined : await Promise.all(stopProfiles.map((stop) => stop()));
    await publisher.request({ type: 'stop' }, 'stopped', 5_000);
    await drain(pool, DRAIN_TIMEOUT_MS);
    const sat = between(s0, s1);
    const delivered = sat.deliveredA + sat.deliveredB;
    const publishedPerSecond = sat.published / sat.seconds;

    // 2. Latency: the floor first, then at a fraction of the saturation publish rate.
    const floor =
      settings.floorRate > 0
        ? await latencyRun(pool, publisher, roles, settings.floorRate, settings.latencySeconds, opened.opened)
        : null;
    const rate =
      settings.latencyRate > 0
        ? settings.latencyRate
        : Math.max(1, publishedPerSecond * settings.latencyLoad);
    const latency = await latencyRun(pool, publisher, roles, rate, settings.latencySeconds, opened.opened);
    stopTracking();

    const final = await publisher.request({ type: 'counts', id: -1 }, 'counts', 5_000, (r) => r.id === -1);
    const after = await pool.counts();
    const received = after.A + after.B - (before.A + before.B);
    const expected = (final.published - final.errors) * opened.opened;
    const { type: _type, id: _id, ...counts } = final;
    const result: ThroughputResult = {
      system: system.id,
      label: system.label,
      round,
      subscribers: {
        A: perA,
        B: settings.subscribers - perA,
        failed: opened.failed,
        firstError: opened.firstError,
      },
      saturation: {
        seconds: sat.seconds,
        window: settings.window,
        delivered,
        deliveredPerSecond: delivered / sat.seconds,
        deliveredPerSecondA: sat.deliveredA / sat.seconds,
        deliveredPerSecondB: sat.deliveredB / sat.seconds,
        publishedPerSecond,
        queueSeconds: settings.window / publishedPerSecond,
        cpu: sat.cpu,
        serverCpuUsPerDelivery:
          ((sat.cpu.nodeA + sat.cpu.nodeB + sat.cpu.redis) * sat.seconds * 1e6) / delivered,
      },
      latency,
      latencyFloor: floor,
      health: {
        ...counts,
        deliveredFraction: expected === 0 ? Number.NaN : received / expected,
        droppedConnections: after.lost,
      },
      ...(profiles === undefined
        ? {}
        : { profiles: { A: profiles[0] as CpuProfile, B: profiles[1] as CpuProfile } }),
    };
    await Promise.all([pool.close(), publisher.request({ type: 'close' }, 'closed', 15_000)]);
    return result;
  } finally {
    await Promise.all([publisher.stop(), ...nodes.map((n) => n.stop())]);
  }
}
