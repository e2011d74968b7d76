import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, type Frame, op, type TestClient } from '../helpers/ws-client.ts';

describe('two app daemons on one Redis', () => {
  let redis: RedisServer;
  let a: DaemonProcess & { url: string; http: string };
  let b: DaemonProcess & { url: string; http: string };
  const clients: TestClient[] = [];

  async function client(url: string): Promise<TestClient> {
    const c = await connect(url);
    clients.push(c);
    await c.next(op('welcome'));
    return c;
  }

  beforeAll(async () => {
    redis = await startRedis();
    const flags = [
      '--redis-url',
      redis.url,
      '--rate-limit',
      '10000',
      '--rate-burst',
      '10000',
      '--drain-seconds',
      '0.5',
    ];
    [a, b] = await Promise.all([
      freePort().then((p) => spawnApp(p, [...flags, '--node-name', 'node-a'])),
      freePort().then((p) => spawnApp(p, [...flags, '--node-name', 'node-b'])),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await redis?.stop();
  });

  it('delivers a publication on one node to subscribers on both, in order', async () => {
    const onA = await client(a.url);
    const onB = await client(b.url);
    expect(onA.frames[0]).toMatchObject({ node: 'node-a' });
    expect(onB.frames[0]).toMatchObject({ node: 'node-b' });
    for (const c of [onA, onB]) {
      c.send({ op: 'subscribe', channel: 'x' });
      await c.next(op('subscribed'));
    }
    for (let i = 0; i < 50; i++) onA.send({ op: 'publish', channel: 'x', data: { i } });
    for (const c of [onA, onB]) {
      await waitFor(() => c.messages('x').length === 50, 10_000, '50 messages');
      expect(c.messages('x').map((m) => (m.data as { i: number }).i)).toEqual([...Array(50).keys()]);
    }
  });

  it('resumes a client on another node from its last offset', async () => {
    const pub = await client(a.url);
    const first = await client(a.url);
    first.send({ op: 'subscribe', channel: 'resume' });
    const subscribed = await first.next(op('subscribed'));
    for (let i = 1; i <= 3; i++) pub.send({ op: 'publish', channel: 'resume', data: i, id: i });
    await waitFor(() => first.messages('resume').length === 3, 5_000, 'three messages');
    await first.close();
    for (let i = 4; i <= 6; i++) pub.send({ op: 'publish', channel: 'resume', data: i, id: i });
    await waitFor(() => pub.frames.filter((f) => f.op === 'ack').length === 6, 5_000, 'six acks');
    const moved = await client(b.url);
    moved.send({ op: 'subscribe', channel: 'resume', since: 3, epoch: subscribed.epoch });
    expect(await moved.next(op('subscribed'))).toMatchObject({ recovered: true, offset: 3 });
    await waitFor(() => moved.messages('resume').length === 3, 5_000, 'the three missed messages');
    expect(moved.messages('resume').map((m) => m.data)).toEqual([4, 5, 6]);
  });

  it('loses no acknowledged message across a Redis restart under publish load', async () => {
    const subscribers = await Promise.all([client(b.url), client(b.url), client(a.url)]);
    for (const s of subscribers) {
      s.send({ op: 'subscribe', channel: 'load' });
      await s.next(op('subscribed'));
    }
    const pub = await client(a.url);
    const acked = new Set<number>();
    const failed = new Set<number>();
    pub.ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as Frame;
      if (f.op === 'ack') acked.add(f.id as number);
      if (f.op === 'error' && f.code === 'publish_failed') failed.add(f.id as number);
    });
    let sent = 0;
    let stop = false;
    const publishing = (async () => {
      // A steady stream, bounded in count and time.
      const until = Date.now() + 20_000;
      while (!stop && sent < 4_000 && Date.now() < until) {
        pub.send({ op: 'publish', channel: 'load', data: sent, id: sent });
        sent++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor(() => acked.size >= 100, 10_000, '100 acks before the restart');
    await redis.restart(3_000);
    const ackedBefore = acked.size;
    await waitFor(() => acked.size >= ackedBefore + 100, 20_000, '100 acks after the restart');
    stop = true;
    await publishing;
    await waitFor(() => acked.size + failed.size === sent, 15_000, 'an answer to every publish');
    expect(failed.size).toBeGreaterThan(0);
    for (const s of subscribers) {
      await waitFor(
        () => {
          const got = new Set(s.messages('load').map((m) => m.data as number));
          return [...acked].every((id) => got.has(id));
        },
        15_000,
        'every acknowledged message at every subscriber',
      );
      const messages = s.messages('load');
      const offsets = messages.map((m) => m.offset as number);
      // In order, no duplicates, no gaps.
      expect(offsets).toEqual(offsets.map((_, i) => (offsets[0] as number) + i));
      // Nothing delivered that was not published; an unacknowledged one may still arrive when
      // Redis stored it but the reply was lost.
      for (const m of messages)
        expect(acked.has(m.data as number) || failed.has(m.data as number)).toBe(true);
    }
    // Health came back on both nodes.
    for (const node of [a, b]) {
      await waitFor(
        async () => (await fetch(`${node.http}/healthz`)).status === 200,
        10_000,
        'healthy again',
      );
    }
  });
});
