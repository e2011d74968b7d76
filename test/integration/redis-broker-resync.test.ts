/**
 * After its subscriber connection comes back, a node catches every channel up from Redis, but not
 * all at once: a proxy in front of a real redis-server holds Redis' replies back and counts the
 * reads the node has in flight on that connection.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerListener, Position } from '../../daemons/app/broker.ts';
import { createRedisBroker, RECONNECT_SYNC_CONCURRENCY } from '../../daemons/app/redis-broker.ts';
import { captureLogs } from '../helpers/logs.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { type ProxiedConnection, type RedisProxy, startRedisProxy } from '../helpers/redis-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const LIMITS = { historySize: 1_000, historyTtlMs: 60_000 };
const WAIT_MS = 15_000;
const SUBSCRIBER = 'wsfleet-subscriber';
/** What a channel's sync sends: the position script, and reads of the stream. */
const SYNC_READS = new Set(['EVAL', 'EVALSHA', 'XRANGE']);
const isSyncRead = ([name]: readonly string[]): boolean => SYNC_READS.has(name ?? '');
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

const brokers: Broker[] = [];
const proxies: RedisProxy[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

interface Node {
  readonly broker: Broker;
  /** Per channel, what the listener got in order: `offset:data`, or `reset`. */
  readonly seen: Map<string, string[]>;
}

async function node(url: string): Promise<Node> {
  const seen = new Map<string, string[]>();
  const record = (channel: string, event: string): void => {
    seen.set(channel, [...(seen.get(channel) ?? []), event]);
  };
  const listener: BrokerListener = {
    publication(channel, { offset, payload }) {
      record(channel, `${offset}:${(JSON.parse(payload.toString()) as { data: unknown }).data}`);
    },
    reset: (channel) => record(channel, 'reset'),
  };
  const broker = createRedisBroker({ url, limits: LIMITS, log: captureLogs('wsfleet-app').log });
  brokers.push(broker);
  await broker.start(listener);
  return { broker, seen };
}

const syncReadsInFlight = (conn: ProxiedConnection): number => conn.inFlight.filter(isSyncRead).length;

describe('Redis broker after a reconnect', () => {
  it('catches every channel up, with at most RECONNECT_SYNC_CONCURRENCY reads in flight, losing nothing', async () => {
    const redis = await startRedis({ appendonly: false });
    servers.push(redis);
    const proxy = await startRedisProxy({ upstreamPort: redis.port, counted: isSyncRead });
    proxies.push(proxy);
    const subscriber = await node(proxy.url);
    const publisher = await node(redis.url);
    const channels = range(1, 200).map((n) => `room:${n}`);
    await Promise.all(channels.map((channel) => subscriber.broker.subscribe(channel)));
    const publishAll = (data: number): Promise<Position[]> =>
      Promise.all(channels.map((channel) => publisher.broker.publish(channel, String(data))));
    const caughtUp = (count: number) => () =>
      channels.every((channel) => (subscriber.seen.get(channel)?.length ?? 0) >= count);

    await publishAll(1);
    await publishAll(2);
    await waitFor(caughtUp(2), WAIT_MS, 'two publications on every channel');

    // Redis is out of reach for the subscriber while three more publications land on every
    // channel: each channel must read them from its stream when the connection is back.
    proxy.refuse(true);
    proxy.cut(SUBSCRIBER);
    await waitFor(() => !subscriber.broker.healthy(), WAIT_MS, 'the subscriber to notice the cut');
    for (const data of [3, 4, 5]) await publishAll(data);
    proxy.hold(SUBSCRIBER);
    proxy.refuse(false);

    const back = await waitFor(
      () => proxy.connections().find((c) => c.name === SUBSCRIBER && !c.closed && c.sent.some(isSyncRead)),
      WAIT_MS,
      'the subscriber to reconnect and start syncing',
    );
    // With every reply held, the node has sent all the reads it will send before one is answered.
    await waitFor(
      () => syncReadsInFlight(back) >= RECONNECT_SYNC_CONCURRENCY,
      WAIT_MS,
      `${RECONNECT_SYNC_CONCURRENCY} sync reads in flight`,
    );
    proxy.release(SUBSCRIBER);
    await waitFor(caughtUp(5), WAIT_MS, 'every channel to catch up');

    expect(back.peak).toBeLessThanOrEqual(RECONNECT_SYNC_CONCURRENCY);
    expect(back.peak).toBe(RECONNECT_SYNC_CONCURRENCY);
    // Every channel synced: each read its position again on the new connection.
    expect(back.sent.filter(([name]) => name === 'EVALSHA' || name === 'EVAL')).toHaveLength(channels.length);
    for (const channel of channels) {
      expect(subscriber.seen.get(channel)).toEqual(['1:1', '2:2', '3:3', '4:4', '5:5']);
    }
    await waitFor(() => subscriber.broker.healthy(), WAIT_MS, 'the subscriber to be healthy again');
  });
});
