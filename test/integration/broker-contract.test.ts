/**
 * The broker contract (daemons/app/broker.ts), run over every implementation: the in-memory broker
 * and the Redis broker on a real redis-server.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Broker,
  type BrokerListener,
  encodeMessage,
  type Position,
  type Publication,
} from '../../daemons/app/broker.ts';
import { createMemoryBroker, type HistoryLimits } from '../../daemons/app/memory-broker.ts';
import { createRedisBroker } from '../../daemons/app/redis-broker.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

interface Backend {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  create(limits: HistoryLimits): Broker;
}

const memoryBackend: Backend = {
  name: 'memory',
  async setup() {},
  async teardown() {},
  create: (limits) => createMemoryBroker(limits),
};

function redisBackend(): Backend {
  let server: RedisServer | undefined;
  const log = createLogger({ name: 'test', level: 'warn', destination: { write() {} } });
  return {
    name: 'redis',
    async setup() {
      server = await startRedis();
    },
    async teardown() {
      await server?.stop();
    },
    create(limits) {
      if (server === undefined) throw new Error('redis-server is not running');
      return createRedisBroker({ url: server.url, limits, log });
    },
  };
}

/** A listener that keeps everything it is told. */
function recorder() {
  const publications: Publication[] = [];
  const resets: { channel: string; position: Position }[] = [];
  const listener: BrokerListener = {
    publication: (_channel, publication) => publications.push(publication),
    reset: (channel, position) => resets.push({ channel, position }),
  };
  const offsets = (channel: string): number[] =>
    publications.filter((p) => p.channel === channel).map((p) => p.offset);
  return { listener, publications, resets, offsets };
}

const LIMITS: HistoryLimits = { historySize: 100, historyTtlMs: 60_000 };
const WAIT_MS = 5_000;
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each([memoryBackend, redisBackend()])('$name broker', (backend) => {
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  const opened: Broker[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((broker) => broker.close()));
  });

  async function open(limits = LIMITS) {
    const broker = backend.create(limits);
    opened.push(broker);
    const seen = recorder();
    await broker.start(seen.listener);
    return { broker, seen };
  }

  // Channels are new in every test, so history left in Redis by one test never meets another.
  const run = randomBytes(4).toString('hex');
  let channels = 0;
  const freshChannel = (name: string): string => `${name}-${run}-${++channels}`;

  async function publishMany(broker: Broker, channel: string, count: number): Promise<Position[]> {
    const positions: Position[] = [];
    for (let i = 0; i < count; i++) positions.push(await broker.publish(channel, JSON.stringify({ n: i })));
    return positions;
  }

  /** Publishes a marker and waits for it, so everything published before has been delivered. */
  async function settle(broker: Broker, seen: ReturnType<typeof recorder>, channel: string): Promise<number> {
    const { offset } = await broker.publish(channel, '"marker"');
    await waitFor(() => seen.offsets(channel).includes(offset), WAIT_MS, `marker ${offset} on ${channel}`);
    return offset;
  }

  it('numbers the publications of each channel from 1 upwards, one apart, within one epoch', async () => {
    const { broker } = await open();
    const a = freshChannel('numbers-a');
    const b = freshChannel('numbers-b');
    const first = await publishMany(broker, a, 5);
    const other = await publishMany(broker, b, 2);
    expect(first.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(first.map((p) => p.epoch)).size).toBe(1);
    expect(other.map((p) => p.offset)).toEqual([1, 2]);
  });

  it('gives a channel it has never seen offset 0 in the epoch its first publication then gets', async () => {
    const { broker } = await open();
    const channel = freshChannel('new');
    const subscribed = await broker.subscribe(channel);
    const history = await broker.history(channel, 0);
    const published = await broker.publish(channel, '1');
    expect(subscribed.offset).toBe(0);
    expect(history).toEqual({ recovered: true, position: subscribed, publications: [] });
    expect(published).toEqual({ epoch: subscribed.epoch, offset: 1 });
  });

  it('carries the exact client frame as the payload, unicode and nested JSON intact', async () => {
    const { broker, seen } = await open();
    const channel = freshChannel('frame: "ünï" ✓');
    const value = {
      text: 'héllo — 世界 🚀',
      nested: { list: [1, 2.5, { deep: null }], quote: 'a "q" \\ b\n' },
    };
    const data = JSON.stringify(value);
    await broker.subscribe(channel);
    const { offset } = await broker.publish(channel, data);
    const history = await broker.history(channel, 0);
    await waitFor(() => seen.offsets(channel).includes(offset), WAIT_MS, 'the publication');

    const delivered = seen.publications.find((p) => p.channel === channel && p.offset === offset);
    expect(history.recovered && history.publications.map((p) => p.payload)).toEqual([delivered?.payload]);
    expect(delivered?.payload.equals(encodeMessage(channel, data, offset))).toBe(true);
    expect(JSON.parse(delivered?.payload.toString('utf8') ?? '')).toEqual({
      op: 'message',
      channel,
      data: value,
      offset,
    });
  });

  it('delivers every publication after the subscribe position to the listener once, in order', async () => {
    const { broker, seen } = await open();
    const channel = freshChannel('deliver');
    const other = freshChannel('deliver-other');
    await publishMany(broker, channel, 3);
    const position = await broker.subscribe(channel);
    await broker.subscribe(other);
    await publishMany(broker, channel, 20);
    await publishMany(broker, other, 2);
    const marker = await settle(broker, seen, channel);

    expect(position.offset).toBe(3);
    expect(seen.offsets(channel)).toEqual(range(4, marker));
    expect(seen.offsets(other)).toEqual([1, 2]);
    expect(seen.resets).toEqual([]);
  });

  it.each([
    { since: 0, offsets: [1, 2, 3, 4, 5] },
    { since: 3, offsets: [4, 5] },
    { since: 5, offsets: [] },
  ])(
    'returns publications since+1 up to the newest from history (since $since)',
    async ({ since, offsets }) => {
      const { broker } = await open();
      const channel = freshChannel('history');
      const positions = await publishMany(broker, channel, 5);
      const newest = positions[4];

      const history = await broker.history(channel, since, newest?.epoch);
      expect(history.recovered).toBe(true);
      expect(history.position).toEqual(newest);
      expect(history.recovered && history.publications.map((p) => [p.channel, p.offset])).toEqual(
        offsets.map((offset) => [channel, offset]),
      );
    },
  );

  it.each([
    { since: 0, recovered: false },
    { since: 6, recovered: false },
    { since: 7, recovered: true },
    { since: 9, recovered: true },
  ])(
    'keeps only historySize publications: since $since after 10 with 3 kept is recovered=$recovered',
    async ({ since, recovered }) => {
      const { broker } = await open({ historySize: 3, historyTtlMs: 60_000 });
      const channel = freshChannel('trimmed');
      await publishMany(broker, channel, 10);

      const history = await broker.history(channel, since);
      if (recovered) {
        expect(history.recovered && history.publications.map((p) => p.offset)).toEqual(range(since + 1, 10));
      } else {
        expect(history).toMatchObject({ recovered: false, reason: 'too_old', position: { offset: 10 } });
      }
    },
  );

  it("keeps an idle channel's epoch and offsets once its history expires: too_old, not epoch_changed", async () => {
    const { broker } = await open({ historySize: 100, historyTtlMs: 300 });
    const channel = freshChannel('idle');
    const [, last] = await publishMany(broker, channel, 2);
    await waitFor(
      async () => !(await broker.history(channel, 0, last?.epoch)).recovered,
      WAIT_MS,
      'the history to expire',
    );
    expect(await broker.history(channel, 0, last?.epoch)).toMatchObject({
      recovered: false,
      reason: 'too_old',
      position: last,
    });
    expect(await broker.history(channel, 2, last?.epoch)).toEqual({
      recovered: true,
      position: last,
      publications: [],
    });
    expect(await broker.publish(channel, '3')).toEqual({ epoch: last?.epoch, offset: 3 });
  });

  it('publishes once per idempotency key: a retry returns the first position and is not delivered again', async () => {
    const { broker, seen } = await open();
    const channel = freshChannel('idem');
    await broker.subscribe(channel);
    const first = await broker.publish(channel, '"a"', 'key-1');
    const retry = await broker.publish(channel, '"a again"', 'key-1');
    const other = await broker.publish(channel, '"b"', 'key-2');
    const elsewhere = await broker.publish(freshChannel('idem-other'), '"c"', 'key-1');
    expect(first).toEqual({ epoch: first.epoch, offset: first.offset });
    // Told apart from a publication, so that it is not counted as one.
    expect(retry).toEqual({ ...first, duplicate: true });
    expect(other).not.toHaveProperty('duplicate');
    expect(other.offset).toBe(first.offset + 1);
    expect(elsewhere.offset).toBe(1);
    await waitFor(() => seen.offsets(channel).includes(other.offset), WAIT_MS, 'the second publication');
    expect(seen.offsets(channel)).toEqual([first.offset, other.offset]);
  });

  it('reports epoch_changed for another epoch or for a since beyond the newest offset', async () => {
    const { broker } = await open();
    const channel = freshChannel('epoch');
    const positions = await publishMany(broker, channel, 2);
    const newest = positions[1];

    expect(await broker.history(channel, 1, 'another-epoch')).toEqual({
      recovered: false,
      reason: 'epoch_changed',
      position: newest,
    });
    expect(await broker.history(channel, 3, newest?.epoch)).toEqual({
      recovered: false,
      reason: 'epoch_changed',
      position: newest,
    });
  });

  it('stops delivering a channel after unsubscribe, and keeps delivering the others', async () => {
    const { broker, seen } = await open();
    const dropped = freshChannel('dropped');
    const kept = freshChannel('kept');
    await broker.subscribe(dropped);
    await broker.subscribe(kept);
    await broker.publish(dropped, '1');
    await waitFor(() => seen.offsets(dropped).includes(1), WAIT_MS, 'the first publication');

    await broker.unsubscribe(dropped);
    await publishMany(broker, dropped, 3);
    await settle(broker, seen, kept);
    expect(seen.offsets(dropped)).toEqual([1]);
  });

  it('rejects publish, subscribe and history with WSFLEET_BROKER_CLOSED once closed, closing twice', async () => {
    const { broker } = await open();
    const channel = freshChannel('closed');
    await broker.close();
    await broker.close();

    const closed = { code: 'WSFLEET_BROKER_CLOSED' };
    await expect(broker.publish(channel, '1')).rejects.toMatchObject(closed);
    await expect(broker.subscribe(channel)).rejects.toMatchObject(closed);
    await expect(broker.history(channel, 0)).rejects.toMatchObject(closed);
    expect(broker.healthy()).toBe(false);
  });
});
