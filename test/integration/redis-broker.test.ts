/**
 * What only the Redis broker does: carry publications between nodes and keep delivery exact when
 * the subscriber connection breaks or Redis restarts, with or without persistence.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerListener, Position } from '../../daemons/app/broker.ts';
import type { HistoryLimits } from '../../daemons/app/memory-broker.ts';
import { createRedisBroker, RECONNECT, reconnectDelay } from '../../daemons/app/redis-broker.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { type RedisServer, type StartRedisOptions, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

type Event =
  | { readonly type: 'publication'; readonly offset: number; readonly text: string }
  | { readonly type: 'reset'; readonly position: Position };

/** One node: a broker with a listener that records events in order, and its log lines. */
interface Node {
  readonly broker: Broker;
  readonly events: Event[];
  readonly health: boolean[];
  readonly lines: Record<string, unknown>[];
  offsets(): number[];
}

const LIMITS: HistoryLimits = { historySize: 10_000, historyTtlMs: 60_000 };
const CHANNEL = 'room:1';
const WAIT_MS = 5_000;
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

const brokers: Broker[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((broker) => broker.close()));
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function server(options?: StartRedisOptions): Promise<RedisServer> {
  const started = await startRedis(options);
  servers.push(started);
  return started;
}

async function node(url: string, channel = CHANNEL): Promise<Node> {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'test',
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  const events: Event[] = [];
  const health: boolean[] = [];
  const listener: BrokerListener = {
    publication(c, { offset, payload }) {
      if (c === channel) events.push({ type: 'publication', offset, text: payload.toString() });
    },
    reset(c, position) {
      if (c === channel) events.push({ type: 'reset', position });
    },
    health: (healthy) => health.push(healthy),
  };
  const broker = createRedisBroker({ url, limits: LIMITS, log });
  brokers.push(broker);
  await broker.start(listener);
  const offsets = (): number[] => events.flatMap((e) => (e.type === 'publication' ? [e.offset] : []));
  return { broker, events, health, lines, offsets };
}

/** Publishes a marker and waits until `to` has it, so everything published before has arrived. */
async function settle(from: Node, to: Node): Promise<number> {
  const { offset } = await from.broker.publish(CHANNEL, '"marker"');
  await waitFor(() => to.offsets().includes(offset), WAIT_MS, `marker ${offset} to arrive`);
  return offset;
}

const dataOf = (event: Event | undefined): unknown =>
  event?.type === 'publication' ? (JSON.parse(event.text) as { data: unknown }).data : undefined;

describe('reconnectDelay', () => {
  const { baseMs, capMs, jitter } = RECONNECT;
  const attempt = fc.integer({ min: 1, max: 100_000 });
  const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('stays within the jittered base and cap, in whole milliseconds', () => {
    fc.assert(
      fc.property(attempt, random, (a, r) => {
        const delay = reconnectDelay(a, () => r);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(baseMs * (1 - jitter)));
        expect(delay).toBeLessThanOrEqual(Math.ceil(capMs * (1 + jitter)));
      }),
      { seed: 12, numRuns: 2_000 },
    );
  });

  it('grows with each attempt until the cap, and a first retry is quick', () => {
    fc.assert(
      fc.property(attempt, random, (a, r) => {
        expect(reconnectDelay(a + 1, () => r)).toBeGreaterThanOrEqual(reconnectDelay(a, () => r));
      }),
      { seed: 12, numRuns: 2_000 },
    );
    expect(reconnectDelay(1, () => 0.5)).toBe(baseMs);
    expect(reconnectDelay(2, () => 0.5)).toBe(2 * baseMs);
    expect(reconnectDelay(100_000, () => 0.5)).toBe(capMs);
  });

  it('spreads a fleet reconnecting at the same attempt over the whole jitter range', () => {
    for (const a of [1, 5, 1_000]) {
      const delays = Array.from({ length: 1_000 }, (_, i) => reconnectDelay(a, () => i / 1_000));
      const middle = reconnectDelay(a, () => 0.5);
      const spread = (Math.max(...delays) - Math.min(...delays)) / middle;
      expect(spread).toBeGreaterThan(2 * jitter * 0.95);
      // No value taken by a crowd: at most a few percent of the fleet on any one millisecond.
      const counts = new Map<number, number>();
      for (const d of delays) counts.set(d, (counts.get(d) ?? 0) + 1);
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(a === 1 ? 60 : 10);
    }
  });
});

describe('Redis broker', () => {
  describe('between nodes on one Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(() => redis?.stop());

    it('delivers a publication made on node A to a subscriber on node B', async () => {
      const a = await node(redis.url, 'between');
      const b = await node(redis.url, 'between');
      await b.broker.subscribe('between');

      const position = await a.broker.publish('between', '{"hello":"B"}');
      await waitFor(() => b.events.length > 0, WAIT_MS, 'the publication on B');
      expect(b.events).toEqual([
        {
          type: 'publication',
          offset: position.offset,
          text: `{"op":"message","channel":"between","data":{"hello":"B"},"offset":${position.offset}}`,
        },
      ]);
    });

    it('keeps publish order while its scripts are not yet loaded in Redis', async () => {
      const redis = await server();
      const admin = new Redis(redis.url);
      try {
        await admin.script('FLUSH');
      } finally {
        admin.disconnect();
      }
      const a = await node(redis.url);
      // Published one by one as client frames arrive, each without waiting for the one before:
      // the first answers come back while later publications are still being sent.
      const pending: Promise<Position>[] = [];
      for (const n of range(1, 200)) {
        pending.push(a.broker.publish(CHANNEL, String(n)));
        await new Promise((r) => setImmediate(r));
      }
      const positions = await Promise.all(pending);
      expect(positions.map((p) => p.offset)).toEqual(range(1, 200));
    });

    it('reads a resume’s history on a connection of its own, in bounded batches, apart from publishes', async () => {
      const redis = await server();
      const a = await node(redis.url, 'replayed');
      let last: Position | undefined;
      for (const n of range(1, 450)) last = await a.broker.publish('replayed', String(n));
      // Who sent what, as Redis sees it: MONITOR names each command's client address.
      const monitor = await new Redis(redis.url).monitor();
      const commands: { readonly source: string; readonly args: readonly string[] }[] = [];
      const isPublishOfAfter = (c: { readonly args: readonly string[] }) =>
        /^eval/i.test(c.args[0] ?? '') && c.args.some((arg) => arg.includes('after'));
      monitor.on('monitor', (_time: string, args: string[], source: string) =>
        commands.push({ source, args }),
      );
      try {
        const result = await a.broker.history('replayed', 0, last?.epoch);
        expect(result.recovered).toBe(true);
        expect(result.recovered && result.publications.map((p) => p.offset)).toEqual(range(1, 450));
        await a.broker.publish('replayed', 'after');
        await waitFor(
          () => commands.some((c) => /^eval/i.test(c.args[0] ?? '')),
          WAIT_MS,
          'the publish seen',
        );
      } finally {
        monitor.disconnect();
      }
      const admin = new Redis(redis.url);
      const clients = String(await admin.client('LIST'));
      admin.disconnect();
      const nameOf = (source: string) =>
        /name=(\S*)/.exec(clients.split('\n').find((l) => l.includes(`addr=${source} `)) ?? '')?.[1];
      const reads = commands.filter((c) => c.args[0]?.toLowerCase() === 'xrange');
      expect(reads.length).toBeGreaterThanOrEqual(3);
      expect(new Set(reads.map((c) => nameOf(c.source)))).toEqual(new Set(['wsfleet-history']));
      // Each read asks for a bounded batch, never the whole history at once.
      for (const read of reads) expect(Number(read.args[read.args.length - 1])).toBeLessThanOrEqual(200);
      const publishes = commands.filter(isPublishOfAfter);
      expect(publishes).toHaveLength(1);
      expect(new Set(publishes.map((c) => nameOf(c.source)))).toEqual(new Set(['wsfleet-publisher']));
    });

    it('fills from history what was published while the subscriber connection was broken', async () => {
      const a = await node(redis.url);
      const b = await node(redis.url);
      await b.broker.subscribe(CHANNEL);
      await Promise.all(range(1, 5).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.offsets().length === 5, WAIT_MS, 'the first five publications on B');

      const admin = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        // Only B's subscriber connection holds subscriptions; it reconnects after >= 40 ms, so
        // the publications below land while it is away and must come from the stream.
        expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1);
      } finally {
        admin.disconnect();
      }
      await Promise.all(range(6, 55).map((n) => a.broker.publish(CHANNEL, String(n))));
      const marker = await settle(a, b);

      expect(b.offsets()).toEqual(range(1, marker));
      expect(b.events.slice(0, 55).map(dataOf)).toEqual(range(1, 55));
      expect(b.lines).toContainEqual(expect.objectContaining({ msg: 'filled publications from history' }));
      expect(b.health).toEqual([true, false, true]);
    });
  });

  describe('across a Redis restart', () => {
    it('delivers every publish that resolved exactly once and in order; those made while down reject', async () => {
      const redis = await server({ appendonly: true });
      const a = await node(redis.url);
      const b = await node(redis.url);
      await b.broker.subscribe(CHANNEL);

      const resolved: { data: number; position: Position; whileDown: boolean }[] = [];
      const rejected: { err: unknown; whileDown: boolean }[] = [];
      const attempts: Promise<void>[] = [];
      let sent = 0;
      const ticker = setInterval(() => {
        const data = ++sent;
        const whileDown = redis.down;
        attempts.push(
          a.broker.publish(CHANNEL, String(data)).then(
            (position) => void resolved.push({ data, position, whileDown }),
            (err: unknown) => void rejected.push({ err, whileDown }),
          ),
        );
      }, 5);
      try {
        await waitFor(() => resolved.length >= 50, WAIT_MS, '50 publishes before the restart');
        await redis.restart(3_000);
        const before = resolved.length;
        await waitFor(() => resolved.length >= before + 100, 15_000, '100 publishes after the restart');
      } finally {
        clearInterval(ticker);
      }
      await Promise.all(attempts); // each is bounded by the publish timeout
      const marker = await settle(a, b);

      // Every attempt settled, and every one made while Redis was down rejected (none queued for later).
      expect(resolved.length + rejected.length).toBe(sent);
      expect(rejected.filter((r) => r.whileDown).length).toBeGreaterThan(100);
      expect(resolved.filter((r) => r.whileDown)).toEqual([]);
      for (const { err } of rejected) expect(err).toMatchObject({ code: 'WSFLEET_REDIS_UNAVAILABLE' });
      expect(new Set(resolved.map((r) => r.position.epoch)).size).toBe(1);
      // Offsets on B run 1..marker with nothing twice; a publish that failed while Redis had
      // already applied it may be among them, one that resolved is never missing.
      expect(b.offsets()).toEqual(range(1, marker));
      for (const { data, position } of resolved) expect(dataOf(b.events[position.offset - 1])).toBe(data);
      // B's publisher connection reconnects on its own schedule, maybe after its subscriber.
      await waitFor(() => b.broker.healthy(), 15_000, 'node B to reconnect both connections');
      expect(b.health).toContain(false);
      expect(b.health.at(-1)).toBe(true);
      expect(a.lines).toContainEqual(
        expect.objectContaining({
          msg: 'redis connection lost, reconnecting',
          connection: 'publisher',
          attempt: 1,
          delayMs: expect.any(Number),
        }),
      );
    });

    it('delivers what was published in a new epoch before the node noticed the history was lost', async () => {
      const redis = await server();
      const a = await node(redis.url);
      const b = await node(redis.url);
      const subscribed = await b.broker.subscribe(CHANNEL);
      await Promise.all(range(1, 3).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.offsets().length === 3, WAIT_MS, 'three publications before the loss');

      const admin = new Redis(redis.url);
      try {
        await admin.flushall();
      } finally {
        admin.disconnect();
      }
      const after = await Promise.all(range(4, 6).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.events.length === 3 + 1 + 3, WAIT_MS, 'a reset and the three new publications');

      expect(after.map((p) => p.offset)).toEqual([1, 2, 3]);
      expect(after[0]?.epoch).not.toBe(subscribed.epoch);
      expect(b.events[3]).toEqual({ type: 'reset', position: { epoch: after[0]?.epoch, offset: 0 } });
      expect(b.events.slice(4).map((e) => [e.type === 'publication' && e.offset, dataOf(e)])).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
    });

    it('moves the channel to a new epoch when Redis lost writes but kept the epoch (a failover), so reused offsets are not dropped', async () => {
      const redis = await server();
      const a = await node(redis.url);
      const b = await node(redis.url);
      const subscribed = await b.broker.subscribe(CHANNEL);
      await Promise.all(range(1, 5).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.offsets().length === 5, WAIT_MS, 'five publications before the failover');

      // A replica promoted without the last two writes: same epoch, counter at 3, entries 4 and 5 gone.
      const admin = new Redis(redis.url);
      try {
        const stream = `wsfleet:{${CHANNEL}}:s`;
        const kept = await admin.xrange(stream, '0-1', '0-3');
        await admin.del(stream);
        for (const [id, fields] of kept) await admin.xadd(stream, id, ...fields);
        await admin.hset(`wsfleet:{${CHANNEL}}:m`, 's', '3');
      } finally {
        admin.disconnect();
      }
      const reused = await Promise.all(range(6, 8).map((n) => a.broker.publish(CHANNEL, String(n))));
      expect(reused.map((p) => p.offset)).toEqual([4, 5, 6]);
      expect(reused[0]?.epoch).toBe(subscribed.epoch);
      await waitFor(() => b.events.some((e) => e.type === 'reset'), WAIT_MS, 'a reset on B');
      const after = await a.broker.publish(CHANNEL, '9');
      await waitFor(() => dataOf(b.events.at(-1)) === 9, WAIT_MS, 'the publication after the reset');

      const reset = b.events.find((e) => e.type === 'reset');
      expect(reset?.type === 'reset' && reset.position.epoch).not.toBe(subscribed.epoch);
      expect(after.epoch).not.toBe(subscribed.epoch);
      expect(reset?.type === 'reset' && reset.position.epoch).toBe(after.epoch);
      // Nothing of the new epoch is lost: whatever followed the reset arrives in order.
      const tail = b.events.slice(b.events.indexOf(reset as Event) + 1);
      expect(tail.map(dataOf).at(-1)).toBe(9);
      expect(tail.map((e) => e.type === 'publication' && e.offset)).toEqual(
        range(after.offset - tail.length + 1, after.offset),
      );
    });

    it('resets subscribers to a new epoch when Redis restarts without persistence, then delivers on', async () => {
      const redis = await server({ appendonly: false });
      const a = await node(redis.url);
      const b = await node(redis.url);
      const subscribed = await b.broker.subscribe(CHANNEL);
      await Promise.all(range(1, 3).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.offsets().length === 3, WAIT_MS, 'three publications before the restart');

      await redis.restart(500);
      await waitFor(() => b.events.some((e) => e.type === 'reset'), 15_000, 'a reset on B');
      await waitFor(() => a.broker.healthy(), 15_000, 'node A to reconnect');
      const after = await Promise.all(range(4, 6).map((n) => a.broker.publish(CHANNEL, String(n))));
      await waitFor(() => b.events.length === 3 + 1 + 3, WAIT_MS, 'three publications after the reset');

      const reset = b.events[3];
      expect(reset?.type === 'reset' && reset.position.epoch).not.toBe(subscribed.epoch);
      expect(reset).toEqual({ type: 'reset', position: { epoch: after[0]?.epoch, offset: 0 } });
      expect(after.map((p) => p.offset)).toEqual([1, 2, 3]);
      expect(b.events.slice(4).map((e) => [e.type === 'publication' && e.offset, dataOf(e)])).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
    });
  });
});
