/**
 * wsfleet/client in Node against two real app daemons sharing a real Redis: a client moved to
 * the other node (its node killed, or drained with 1012) resumes with no gap and no duplicate;
 * across a Redis restart nothing acknowledged is lost; a token about to expire is replaced by a
 * fresh one that the next connection uses. A WebSocket subclass plays the load balancer: it
 * connects to whichever node the test points it at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect, type Message, type Missed, type WsfleetClient } from '../../client/index.ts';
import { signToken } from '../../daemons/app/token.ts';
import { type DaemonProcess, spawnApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'client-cluster-test-token-secret-0123456789';
const API_KEY = 'client-cluster-test-api-key';
const STEP_MS = 20_000;

type Daemon = DaemonProcess & { url: string; http: string };

describe('wsfleet/client on a two-node cluster', () => {
  let redis: RedisServer | undefined;
  const ports = { a: 0, b: 0 };
  const nodes: Record<'a' | 'b', Daemon | undefined> = { a: undefined, b: undefined };
  /** Where the next connection of any client goes: the test's load balancer. */
  let target: 'a' | 'b' = 'a';
  const clients: WsfleetClient[] = [];

  class Balanced extends WebSocket {
    constructor(_url: string, protocols: string[]) {
      super(`ws://127.0.0.1:${ports[target]}/ws`, protocols);
    }
  }

  const start = async (name: 'a' | 'b') => {
    nodes[name] = await spawnApp(ports[name], [
      '--redis-url',
      redis?.url ?? '',
      '--node-name',
      `node-${name}`,
      '--drain-seconds',
      '1',
      '--token-secret',
      SECRET,
      '--api-key',
      API_KEY,
    ]);
  };

  const token = (sub: string, inSeconds: number) =>
    signToken({ sub, exp: Math.floor(Date.now() / 1000) + inSeconds }, SECRET);

  beforeAll(async () => {
    redis = await startRedis();
    ports.a = await freePort();
    ports.b = await freePort();
    await start('a');
    await start('b');
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.allSettled([nodes.a?.stop('SIGKILL'), nodes.b?.stop('SIGKILL')]);
    await redis?.stop();
  }, 30_000);

  /** Publishes through a node's HTTP API and returns the offset once the publication is durable. */
  async function publish(via: 'a' | 'b', channel: string, data: unknown): Promise<number> {
    const res = await fetch(`${nodes[via]?.http}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    if (res.status !== 200) throw new Error(`publish answered ${res.status}`);
    return ((await res.json()) as { offset: number }).offset;
  }

  /** A client on the current target, subscribed to `channel` and live. */
  async function subscriber(channel: string, getToken = () => token('reader', 600)) {
    const client = connect('ws://placeholder.invalid/ws', {
      WebSocket: Balanced,
      getToken,
      // Keep reconnects quick in tests whatever the schedule draws.
      reconnect: { baseMs: 100, maxMs: 1_000 },
    });
    clients.push(client);
    const sub = client.subscribe(channel);
    const messages: Message[] = [];
    const missed: Missed[] = [];
    const closes: number[] = [];
    sub.on('message', (m) => messages.push(m));
    sub.on('missed', (m) => missed.push(m));
    client.on('disconnected', (d) => closes.push(d.code));
    await waitFor(() => sub.state === 'subscribed', STEP_MS, `${channel} live`);
    return { client, sub, messages, missed, closes };
  }

  function expectNoGap(messages: Message[], data: unknown[]): void {
    expect(messages.map((m) => m.data)).toEqual(data);
    const first = messages[0]?.offset ?? 0;
    expect(messages.map((m) => m.offset)).toEqual(messages.map((_, i) => first + i));
  }

  it('moves to the other node when its node is killed and resumes with no gap', async () => {
    target = 'a';
    const r = await subscriber('killed');
    expect(r.client.connection?.node).toBe('node-a');
    for (let n = 1; n <= 5; n++) await publish('b', 'killed', n);
    await waitFor(() => r.messages.length === 5, STEP_MS, 'five messages before the kill');

    target = 'b';
    await nodes.a?.stop('SIGKILL');
    for (let n = 6; n <= 10; n++) await publish('b', 'killed', n);
    await waitFor(() => r.client.connection?.node === 'node-b', STEP_MS, 'the client on node-b');
    for (let n = 11; n <= 12; n++) await publish('b', 'killed', n);
    await waitFor(() => r.messages.length >= 12, STEP_MS, 'twelve messages');
    expectNoGap(r.messages, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(r.missed).toEqual([]);
    await start('a');
  }, 60_000);

  it('comes back soon after a drain (1012) and resumes on the other node with no gap', async () => {
    target = 'b';
    const r = await subscriber('drained');
    expect(r.client.connection?.node).toBe('node-b');
    const delays: (number | undefined)[] = [];
    r.client.on('disconnected', (d) => delays.push(d.reconnectInMs));
    await publish('a', 'drained', 'before');

    target = 'a';
    const stopping = nodes.b?.stop('SIGTERM');
    await waitFor(() => r.client.connection?.node === 'node-a', STEP_MS, 'the client on node-a');
    expect((await stopping)?.code).toBe(0);
    await publish('a', 'drained', 'after');
    await waitFor(() => r.messages.length >= 2, STEP_MS, 'both messages');
    expectNoGap(r.messages, ['before', 'after']);
    expect(r.closes[0]).toBe(1012);
    // 1012 means "come back soon": within restartSpreadMs (1 s), not on the backoff schedule.
    expect(delays[0]).toBeLessThan(1_000);
    await start('b');
  }, 60_000);

  it('loses nothing acknowledged across a Redis restart', async () => {
    target = 'a';
    const r = await subscriber('redis-restart');
    const acked: number[] = [];
    acked.push(await publish('b', 'redis-restart', 'before'));
    await redis?.restart(1_000);
    // Publishes are refused (503) until Redis is back; each one acknowledged must arrive.
    await waitFor(
      async () => {
        acked.push(await publish('b', 'redis-restart', 'after'));
        return true;
      },
      STEP_MS,
      'a publish after the restart',
      200,
    );
    await waitFor(() => r.messages.length >= 2, STEP_MS, 'both messages');
    expectNoGap(r.messages, ['before', 'after']);
    expect(r.messages.map((m) => m.offset)).toEqual(acked);
    expect(r.missed).toEqual([]);
  }, 60_000);

  it('hands a fresh token to the open connection, which outlives its first token', async () => {
    target = 'a';
    // The server takes a token up to 30 s past its exp; this one has 4 s of that left, so the
    // server would close the connection with 4001 then, unless the in-band refresh took.
    const exp = Math.floor(Date.now() / 1000) - 26;
    const first = signToken({ sub: 'refresher', exp }, SECRET);
    let calls = 0;
    const r = await subscriber('refresh', () => (calls++ === 0 ? first : token('refresher', 600)));
    const session = r.client.connection?.session;
    await waitFor(() => calls >= 2, STEP_MS, 'the refresh');
    // Past the moment the server would have closed it, by a margin: the same connection, live.
    const closeAt = (exp + 30) * 1000 + 2_000;
    await waitFor(() => Date.now() > closeAt, 15_000, 'the first token’s end on the server');
    const offset = await publish('a', 'refresh', 'after-exp');
    await waitFor(() => r.messages.length >= 1, STEP_MS, 'the message after exp');
    expect(r.messages.map((m) => [m.data, m.offset])).toEqual([['after-exp', offset]]);
    expect(r.closes).toEqual([]);
    expect(r.client.connection?.session).toBe(session);
  }, 60_000);

  it('fetches a fresh token before exp and the next connection uses it', async () => {
    target = 'a';
    const subs: string[] = [];
    // 5 s left is inside the 30 s refresh margin: the client refreshes as soon as it is connected.
    const tokens = [token('first', 5), token('second', 600)];
    let calls = 0;
    const r = await subscriber('token', () => tokens[Math.min(calls++, 1)] ?? '');
    r.client.on('connected', (c) => subs.push(c.sub ?? ''));
    expect(r.client.connection?.sub).toBe('first');
    await waitFor(() => calls >= 2, STEP_MS, 'the refresh');

    target = 'b';
    await nodes.a?.stop('SIGKILL');
    await waitFor(() => r.client.connection?.node === 'node-b', STEP_MS, 'the client on node-b');
    expect(subs).toEqual(['second']);
    await start('a');
  }, 60_000);
});
