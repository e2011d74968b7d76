/**
 * Resuming while the channel moves: publications and history losses that land while a client's
 * history read is still pending. The broker is the in-memory one with its history reads held
 * at a gate, so the test decides what happens while the read waits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Broker, type BrokerListener, encodeMessage } from '../../daemons/app/broker.ts';
import { createMemoryBroker } from '../../daemons/app/memory-broker.ts';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

interface GatedBroker extends Broker {
  listener(): BrokerListener;
  /** Resolves when a history read is waiting at the gate. */
  readonly reading: Promise<void>;
  open(): void;
}

function gatedBroker(): GatedBroker {
  const inner = createMemoryBroker({ historySize: 100, historyTtlMs: 60_000 });
  let listener: BrokerListener | undefined;
  let opened!: () => void;
  const gate = new Promise<void>((r) => {
    opened = r;
  });
  let reached!: () => void;
  const reading = new Promise<void>((r) => {
    reached = r;
  });
  return {
    ...inner,
    start(l) {
      listener = l;
      return inner.start(l);
    },
    async history(channel, since, epoch) {
      reached();
      await gate;
      return inner.history(channel, since, epoch);
    },
    listener: () => listener as BrokerListener,
    reading,
    open: opened,
  };
}

describe('resume while the history read is pending', () => {
  const apps: InProcessApp[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function client(app: InProcessApp): Promise<TestClient> {
    const c = await connect(app.url);
    clients.push(c);
    await c.next(op('welcome'));
    return c;
  }

  it('delivers a publication made during the read once, after the replay', async () => {
    const broker = gatedBroker();
    const app = await startApp(['--drain-seconds', '0.2'], broker);
    apps.push(app);
    const pub = await client(app);
    const watcher = await client(app);
    watcher.send({ op: 'subscribe', channel: 'r' });
    const { epoch } = await watcher.next(op('subscribed'));
    for (let i = 1; i <= 5; i++) pub.send({ op: 'publish', channel: 'r', data: i, id: i });
    for (let i = 1; i <= 5; i++) await pub.next(op('ack'));

    const sub = await client(app);
    sub.send({ op: 'subscribe', channel: 'r', since: 2, epoch });
    await broker.reading;
    // Offset 6 reaches the node while the read waits: it is both in the history the read returns
    // and in the subscriber's pending queue, and must arrive once.
    pub.send({ op: 'publish', channel: 'r', data: 6, id: 6 });
    await pub.next(op('ack'));
    await waitFor(() => watcher.messages('r').length === 6, 5_000, 'the watcher to see offset 6');
    broker.open();
    expect(await sub.next(op('subscribed'))).toMatchObject({ recovered: true, offset: 2, epoch });
    pub.send({ op: 'publish', channel: 'r', data: 7, id: 7 });
    await waitFor(() => sub.messages('r').length >= 5, 5_000, 'replay and live messages');
    await watcher.next((f) => f.op === 'message' && f.offset === 7);
    expect(sub.messages('r').map((m) => m.offset)).toEqual([3, 4, 5, 6, 7]);
  });

  it('replays a history larger than the send buffer as the socket drains, without disconnecting', async () => {
    const app = await startApp([
      '--drain-seconds',
      '0.2',
      '--rate-burst',
      '10000',
      '--api-key',
      'k'.repeat(24),
    ]);
    apps.push(app);
    const watcher = await client(app);
    watcher.send({ op: 'subscribe', channel: 'big' });
    const { epoch } = await watcher.next(op('subscribed'));
    const data = 'x'.repeat(8 * 1024);
    for (let i = 1; i <= 1000; i++) {
      const res = await fetch(`${app.http}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${'k'.repeat(24)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'big', data: `${i}:${data}` }),
      });
      expect(res.status).toBe(200);
    }
    // 8 MB of replay against the default 4 MB send buffer.
    const sub = await client(app);
    sub.send({ op: 'subscribe', channel: 'big', since: 0, epoch });
    expect(await sub.next(op('subscribed'))).toMatchObject({ recovered: true, offset: 0 });
    await waitFor(
      () => sub.messages('big').length === 1000 || sub.ws.readyState !== sub.ws.OPEN,
      30_000,
      'the replay',
    );
    expect(sub.ws.readyState).toBe(sub.ws.OPEN);
    expect(sub.messages('big').map((m) => m.offset)).toEqual([...Array(1000).keys()].map((i) => i + 1));
  });

  it('tells the client recovered:false when the history is lost during the read, and delivers the new epoch', async () => {
    const broker = gatedBroker();
    const app = await startApp(['--drain-seconds', '0.2'], broker);
    apps.push(app);
    const pub = await client(app);
    const watcher = await client(app);
    watcher.send({ op: 'subscribe', channel: 'r' });
    const { epoch } = await watcher.next(op('subscribed'));
    for (let i = 1; i <= 5; i++) pub.send({ op: 'publish', channel: 'r', data: i, id: i });
    for (let i = 1; i <= 5; i++) await pub.next(op('ack'));

    const sub = await client(app);
    sub.send({ op: 'subscribe', channel: 'r', since: 5, epoch });
    await broker.reading;
    // The broker loses the channel's history and starts a new epoch; its first publication follows.
    broker.listener().reset('r', { epoch: 'new-epoch', offset: 0 });
    broker
      .listener()
      .publication('r', { channel: 'r', offset: 1, payload: encodeMessage('r', '"fresh"', 1) });
    await watcher.next((f) => f.op === 'message' && f.data === 'fresh');
    broker.open();
    expect(await sub.next(op('subscribed'))).toMatchObject({
      recovered: false,
      reason: 'epoch_changed',
      epoch: 'new-epoch',
      offset: 0,
    });
    expect(await sub.next(op('message'))).toMatchObject({ offset: 1, data: 'fresh' });
  });
});
