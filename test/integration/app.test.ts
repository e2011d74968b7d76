import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { signToken } from '../../daemons/app/token.ts';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

const API_KEY = 'k'.repeat(24);
const SECRET = 's'.repeat(40);

describe('app daemon', () => {
  const apps: InProcessApp[] = [];
  const clients: TestClient[] = [];
  const sockets: Socket[] = [];

  async function start(argv: string[] = []): Promise<InProcessApp> {
    const app = await startApp(['--drain-seconds', '0.3', ...argv]);
    apps.push(app);
    return app;
  }

  async function client(url: string, options: Parameters<typeof connect>[1] = {}): Promise<TestClient> {
    const c = await connect(url, options);
    clients.push(c);
    await c.next(op('welcome'));
    return c;
  }

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  describe('protocol', () => {
    it('greets each connection with the node name', async () => {
      const app = await start();
      const c = await connect(app.url);
      clients.push(c);
      const welcome = await c.next(op('welcome'));
      expect(welcome).toMatchObject({ op: 'welcome', node: 'test-node', pingInterval: 25 });
      expect(typeof welcome.session).toBe('string');
    });

    it('delivers publications to subscribers with offsets, and acks the publisher', async () => {
      const app = await start();
      const sub = await client(app.url);
      const pub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'news', id: 1 });
      expect(await sub.next(op('subscribed'))).toMatchObject({
        channel: 'news',
        offset: 0,
        recovered: true,
        id: 1,
      });
      pub.send({ op: 'publish', channel: 'news', data: { text: 'héllo', n: [1, 2] }, id: 'p1' });
      expect(await pub.next(op('ack'))).toEqual({ op: 'ack', id: 'p1', channel: 'news', offset: 1 });
      expect(await sub.next(op('message'))).toEqual({
        op: 'message',
        channel: 'news',
        data: { text: 'héllo', n: [1, 2] },
        offset: 1,
      });
    });

    it('acks a publish retried with the same idempotencyKey with the first offset and delivers it once', async () => {
      const app = await start();
      const sub = await client(app.url);
      const pub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'idem' });
      await sub.next(op('subscribed'));
      pub.send({ op: 'publish', channel: 'idem', data: 'once', id: 1, idempotencyKey: 'order-17' });
      expect(await pub.next(op('ack'))).toEqual({ op: 'ack', id: 1, channel: 'idem', offset: 1 });
      pub.send({ op: 'publish', channel: 'idem', data: 'once', id: 2, idempotencyKey: 'order-17' });
      expect(await pub.next(op('ack'))).toEqual({ op: 'ack', id: 2, channel: 'idem', offset: 1 });
      pub.send({ op: 'publish', channel: 'idem', data: 'next', id: 3 });
      expect(await pub.next(op('ack'))).toMatchObject({ offset: 2 });
      await sub.next((f) => f.op === 'message' && f.offset === 2);
      expect(sub.messages('idem').map((m) => m.data)).toEqual(['once', 'next']);
      // The retry answered from the idempotency window is no publication of its own.
      const metrics = await (await fetch(`${app.http}/metrics`)).text();
      expect(metrics).toMatch(/^wsfleet_app_publications_total\{source="ws"\} 2$/m);
      expect(metrics).toMatch(/^wsfleet_app_publications_deduplicated_total\{source="ws"\} 1$/m);
      pub.send({ op: 'publish', channel: 'idem', data: 1, id: 4, idempotencyKey: '' });
      expect(await pub.next(op('error'))).toMatchObject({ code: 'bad_frame', id: 4 });
    });

    it('keeps publish order per channel', async () => {
      const app = await start(['--rate-burst', '1000']);
      const sub = await client(app.url);
      const pub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'seq' });
      await sub.next(op('subscribed'));
      for (let i = 0; i < 300; i++) pub.send({ op: 'publish', channel: 'seq', data: i });
      await waitFor(() => sub.messages('seq').length === 300, 10_000, '300 messages');
      expect(sub.messages('seq').map((m) => m.data)).toEqual([...Array(300).keys()]);
      expect(sub.messages('seq').map((m) => m.offset)).toEqual([...Array(300).keys()].map((i) => i + 1));
    });

    it('resumes a subscription from an offset without loss or duplicates', async () => {
      const app = await start();
      const pub = await client(app.url);
      const watcher = await client(app.url);
      watcher.send({ op: 'subscribe', channel: 'r' });
      const first = await watcher.next(op('subscribed'));
      for (let i = 1; i <= 5; i++) pub.send({ op: 'publish', channel: 'r', data: i, id: i });
      for (let i = 1; i <= 5; i++) await pub.next(op('ack'));
      const sub = await client(app.url);
      // A resume names the epoch its offset belongs to; without it the offset means nothing.
      sub.send({ op: 'subscribe', channel: 'r', since: 2, id: 'no-epoch' });
      expect(await sub.next(op('error'))).toMatchObject({ code: 'bad_frame', id: 'no-epoch' });
      sub.send({ op: 'subscribe', channel: 'r', since: 2, epoch: first.epoch });
      const subscribed = await sub.next(op('subscribed'));
      expect(subscribed).toMatchObject({ recovered: true, offset: 2 });
      pub.send({ op: 'publish', channel: 'r', data: 6 });
      await waitFor(() => sub.messages('r').length === 4, 5_000, 'replay and live message');
      expect(sub.messages('r').map((m) => m.offset)).toEqual([3, 4, 5, 6]);
      // Resuming again with the epoch it was given works too.
      const again = await client(app.url);
      again.send({ op: 'subscribe', channel: 'r', since: 5, epoch: subscribed.epoch });
      expect(await again.next(op('subscribed'))).toMatchObject({ recovered: true, offset: 5 });
      expect(await again.next(op('message'))).toMatchObject({ offset: 6, data: 6 });
    });

    it.each([
      ['too old for the bounded history', (epoch: string) => ({ since: 1, epoch }), 'too_old'],
      ['from another epoch', () => ({ since: 9, epoch: 'gone' }), 'epoch_changed'],
    ])('tells a client resuming %s that it missed messages', async (_name, resumeFrom, reason) => {
      const app = await start(['--history-size', '3']);
      const watcher = await client(app.url);
      watcher.send({ op: 'subscribe', channel: 'h' });
      const position = resumeFrom(String((await watcher.next(op('subscribed'))).epoch));
      const pub = await client(app.url);
      for (let i = 1; i <= 10; i++) pub.send({ op: 'publish', channel: 'h', data: i, id: i });
      for (let i = 1; i <= 10; i++) await pub.next(op('ack'));
      const sub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'h', ...position });
      expect(await sub.next(op('subscribed'))).toMatchObject({ recovered: false, reason, offset: 10 });
      pub.send({ op: 'publish', channel: 'h', data: 11 });
      expect(await sub.next(op('message'))).toMatchObject({ offset: 11 });
      expect(sub.messages('h')).toHaveLength(1);
    });

    it('stops delivering after unsubscribe', async () => {
      const app = await start();
      const sub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'u' });
      await sub.next(op('subscribed'));
      sub.send({ op: 'unsubscribe', channel: 'u', id: 3 });
      expect(await sub.next(op('unsubscribed'))).toEqual({ op: 'unsubscribed', channel: 'u', id: 3 });
      sub.send({ op: 'subscribe', channel: 'other' });
      await sub.next(op('subscribed'));
      sub.send({ op: 'publish', channel: 'u', data: 1, id: 'a' });
      sub.send({ op: 'publish', channel: 'other', data: 2, id: 'b' });
      await sub.next(op('message'));
      expect(sub.frames.filter((f) => f.op === 'message').map((f) => f.channel)).toEqual(['other']);
    });

    it('answers application pings', async () => {
      const app = await start();
      const c = await client(app.url);
      c.send({ op: 'ping', id: 9 });
      expect(await c.next(op('pong'))).toEqual({ op: 'pong', id: 9 });
    });
  });

  describe('bad input', () => {
    it.each([
      ['invalid JSON', '{"op":', 'bad_json'],
      ['an unknown op', '{"op":"explode"}', 'unknown_op'],
      ['a bad channel name', '{"op":"subscribe","channel":"a b"}', 'bad_channel'],
      ['a frame that is not an object', '[]', 'bad_frame'],
    ])('answers %s with an error frame and keeps the connection', async (_name, text, code) => {
      const app = await start();
      const c = await client(app.url);
      c.ws.send(text);
      expect(await c.next(op('error'))).toMatchObject({ code });
      c.send({ op: 'ping' });
      await c.next(op('pong'));
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('answers a binary frame with an error frame', async () => {
      const app = await start();
      const c = await client(app.url);
      c.ws.send(Buffer.from([1, 2, 3]));
      expect(await c.next(op('error'))).toMatchObject({ code: 'binary_not_supported' });
    });

    it('closes with 1009 on a frame over the size limit, without hurting other clients', async () => {
      const app = await start(['--max-message-bytes', '1024']);
      const bystander = await client(app.url);
      const c = await client(app.url);
      c.send({ op: 'publish', channel: 'x', data: 'y'.repeat(2000) });
      expect((await c.closed).code).toBe(1009);
      bystander.send({ op: 'ping' });
      await bystander.next(op('pong'));
    });

    it('rate-limits a flooding connection with one error per run of dropped frames', async () => {
      // A fake monotonic clock: time moves only when the test says so.
      let now = 0;
      const app = await startApp(
        ['--drain-seconds', '0.3', '--rate-limit', '1', '--rate-burst', '5'],
        undefined,
        {
          clock: () => now,
        },
      );
      apps.push(app);
      const c = await client(app.url);
      const received = async () => (await app.app.metrics.framesReceived.get()).values[0]?.value ?? 0;
      const until = (n: number) =>
        waitFor(async () => (await received()) === n, 5_000, `${n} frames handled`);
      for (let i = 0; i < 50; i++) c.send({ op: 'ping', id: i });
      await until(50);
      now += 999; // not yet a whole token
      c.send({ op: 'ping', id: 'early' });
      await until(51);
      now += 1; // one token
      c.send({ op: 'ping', id: 'after' });
      // Frames are handled in order: once 'after' is answered, every frame before it was.
      await c.next((f) => f.op === 'pong' && f.id === 'after');
      expect(c.frames.filter((f) => f.op === 'pong').map((f) => f.id)).toEqual([0, 1, 2, 3, 4, 'after']);
      expect(c.frames.filter((f) => f.op === 'error')).toEqual([
        expect.objectContaining({ code: 'rate_limited' }),
      ]);
    });

    it('refuses more subscriptions than allowed per connection', async () => {
      const app = await start(['--max-channels-per-connection', '2']);
      const c = await client(app.url);
      for (const channel of ['a', 'b', 'c']) c.send({ op: 'subscribe', channel });
      expect(await c.next(op('error'))).toMatchObject({ code: 'too_many_channels', channel: 'c' });
      expect(c.frames.filter((f) => f.op === 'subscribed')).toHaveLength(2);
    });

    it('disconnects a slow reader once its send buffer is full, and only it', async () => {
      const app = await start(['--max-send-buffer-bytes', String(2 * 1024 * 1024), '--rate-burst', '100000']);
      // A raw client that completes the handshake, subscribes, and then never reads.
      const slow = netConnect(app.port, '127.0.0.1');
      sockets.push(slow);
      await new Promise((r) => slow.once('connect', r));
      slow.write(
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const payload = Buffer.from(JSON.stringify({ op: 'subscribe', channel: 'flood' }));
      const mask = Buffer.from([1, 2, 3, 4]);
      const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
      slow.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      slow.pause();
      const closed = new Promise((r) => slow.once('close', r));
      const reader = await client(app.url);
      reader.send({ op: 'subscribe', channel: 'flood' });
      await reader.next(op('subscribed'));
      await waitFor(
        async () => (await app.app.metrics.channels.get()).values[0]?.value === 1,
        5_000,
        'one channel',
      );
      const pub = await client(app.url);
      const data = 'x'.repeat(16_000);
      const slowDisconnects = async () =>
        (await app.app.metrics.disconnects.get()).values.find((v) => v.labels.reason === 'slow_consumer')
          ?.value ?? 0;
      // Publish in steps the reader keeps up with, until the node gives up on the slow one.
      let sent = 0;
      while ((await slowDisconnects()) === 0 && sent < 4_000) {
        for (let i = 0; i < 20; i++) pub.send({ op: 'publish', channel: 'flood', data });
        sent += 20;
        await waitFor(
          () => reader.messages('flood').length === sent,
          10_000,
          `${sent} messages at the reader`,
        );
      }
      expect(await slowDisconnects()).toBe(1);
      slow.resume();
      await closed;
      pub.send({ op: 'publish', channel: 'flood', data: 'after' });
      await waitFor(() => reader.messages('flood').length === sent + 1, 5_000, 'one more message');
      expect(reader.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('drops a peer that stops answering pings', async () => {
      const app = await start(['--ping-interval', '0.1']);
      const silent = await client(app.url, { autoPong: false });
      const polite = await client(app.url);
      const { code } = await silent.closed;
      expect(code).toBe(1006);
      expect(polite.ws.readyState).toBe(WebSocket.OPEN);
    });
  });

  describe('upgrade checks', () => {
    it('refuses an origin that is not allowed, and allows the same host', async () => {
      const app = await start();
      await expect(connect(app.url, { origin: 'https://evil.example' })).rejects.toMatchObject({
        status: 403,
      });
      await client(app.url, { origin: `http://127.0.0.1:${app.port}` });
      const listed = await start(['--allowed-origins', 'https://app.example,https://b.example']);
      await client(listed.url, { origin: 'https://b.example' });
      await expect(connect(listed.url, { origin: `http://127.0.0.1:${listed.port}` })).rejects.toMatchObject({
        status: 403,
      });
    });

    it('requires a valid token when a token secret is set', async () => {
      const app = await start(['--token-secret', SECRET]);
      await expect(connect(app.url)).rejects.toMatchObject({ status: 401 });
      const expired = signToken({ exp: Math.floor(Date.now() / 1000) - 120 }, SECRET);
      await expect(connect(`${app.url}?token=${expired}`)).rejects.toMatchObject({ status: 401 });
      const token = signToken(
        { exp: Math.floor(Date.now() / 1000) + 60, sub: 'u1', channels: ['mine'] },
        SECRET,
      );
      const viaQuery = await connect(`${app.url}?token=${token}`);
      clients.push(viaQuery);
      expect(await viaQuery.next(op('welcome'))).toMatchObject({ sub: 'u1' });
      const viaProtocol = await client(app.url, { protocols: ['wsfleet', `wsfleet-token.${token}`] });
      expect(viaProtocol.ws.protocol).toBe('wsfleet');
      viaProtocol.send({ op: 'subscribe', channel: 'theirs' });
      expect(await viaProtocol.next(op('error'))).toMatchObject({ code: 'forbidden', channel: 'theirs' });
      viaProtocol.send({ op: 'publish', channel: 'theirs', data: 1 });
      expect(await viaProtocol.next(op('error'))).toMatchObject({ code: 'forbidden' });
      viaProtocol.send({ op: 'subscribe', channel: 'mine' });
      await viaProtocol.next(op('subscribed'));
    });

    it('answers 503 beyond the connection cap', async () => {
      const app = await start(['--max-connections', '2']);
      await client(app.url);
      await client(app.url);
      await expect(connect(app.url)).rejects.toMatchObject({ status: 503 });
    });

    it('answers 404 for upgrades outside /ws', async () => {
      const app = await start();
      await expect(connect(`ws://127.0.0.1:${app.port}/other`)).rejects.toMatchObject({ status: 404 });
    });

    it('refuses client publishes when they are turned off', async () => {
      const app = await start(['--client-publish=false']);
      const c = await client(app.url);
      c.send({ op: 'publish', channel: 'x', data: 1, id: 1 });
      expect(await c.next(op('error'))).toMatchObject({ code: 'publish_disabled', id: 1 });
    });
  });

  describe('HTTP', () => {
    it('reports health and metrics', async () => {
      const app = await start();
      await client(app.url);
      const health = await fetch(`${app.http}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`${app.http}/metrics`)).text();
      expect(metrics).toMatch(/^wsfleet_app_connections 1$/m);
      expect(metrics).toMatch(/^wsfleet_app_broker_up 1$/m);
      expect(metrics).toContain('wsfleet_process_resident_memory_bytes');
    });

    it('publishes through the API for backends', async () => {
      const app = await start(['--api-key', API_KEY]);
      const sub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'api' });
      await sub.next(op('subscribed'));
      const res = await fetch(`${app.http}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'api', data: { from: 'backend' } }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ channel: 'api', offset: 1 });
      expect(await sub.next(op('message'))).toMatchObject({
        channel: 'api',
        data: { from: 'backend' },
        offset: 1,
      });
    });

    it('answers an API publish retried with the same idempotencyKey with the first offset and counts it once', async () => {
      const app = await start(['--api-key', API_KEY]);
      const sub = await client(app.url);
      sub.send({ op: 'subscribe', channel: 'api-idem' });
      await sub.next(op('subscribed'));
      const publish = async (data: unknown, idempotencyKey?: string): Promise<unknown> => {
        const res = await fetch(`${app.http}/api/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'api-idem', data, idempotencyKey }),
        });
        expect(res.status).toBe(200);
        return res.json();
      };
      expect(await publish('once', 'order-9')).toMatchObject({ offset: 1 });
      expect(await publish('once', 'order-9')).toMatchObject({ offset: 1 });
      expect(await publish('next')).toMatchObject({ offset: 2 });
      await sub.next((f) => f.op === 'message' && f.offset === 2);
      expect(sub.messages('api-idem').map((m) => m.data)).toEqual(['once', 'next']);
      const metrics = await (await fetch(`${app.http}/metrics`)).text();
      expect(metrics).toMatch(/^wsfleet_app_publications_total\{source="api"\} 2$/m);
      expect(metrics).toMatch(/^wsfleet_app_publications_deduplicated_total\{source="api"\} 1$/m);
    });

    it.each([
      ['no key', {}, '{"channel":"a","data":1}', 401, 'unauthorized'],
      [
        'a wrong key',
        { authorization: `Bearer ${'x'.repeat(24)}` },
        '{"channel":"a","data":1}',
        401,
        'unauthorized',
      ],
      ['invalid JSON', { authorization: `Bearer ${API_KEY}` }, '{"channel":', 400, 'bad_json'],
      [
        'a bad channel',
        { authorization: `Bearer ${API_KEY}` },
        '{"channel":"a b","data":1}',
        400,
        'bad_channel',
      ],
      ['no data', { authorization: `Bearer ${API_KEY}` }, '{"channel":"a"}', 400, 'bad_request'],
      [
        'a body too large',
        { authorization: `Bearer ${API_KEY}` },
        `{"channel":"a","data":"${'z'.repeat(70_000)}"}`,
        413,
        'too_large',
      ],
    ])('refuses a publish with %s', async (_name, headers, body, status, code) => {
      const app = await start(['--api-key', API_KEY]);
      const res = await fetch(`${app.http}/api/publish`, { method: 'POST', headers, body });
      expect(res.status).toBe(status);
      expect(await res.json()).toMatchObject({ error: { code } });
    });

    it('keeps the publish API off without an API key', async () => {
      const app = await start();
      const res = await fetch(`${app.http}/api/publish`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(403);
    });

    it('serves the demo page', async () => {
      const app = await start();
      const res = await fetch(`${app.http}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain('<html');
    });
  });

  describe('#close', () => {
    it('drains: health turns 503 at once, clients get 1012, new upgrades are refused', async () => {
      const app = await startApp(['--drain-seconds', '1']);
      const many = await Promise.all([...Array(30).keys()].map(() => client(app.url)));
      // When each close arrived (monotonic ms).
      const closedAt: number[] = [];
      for (const c of many) void c.closed.then(() => closedAt.push(performance.now()));
      const closing = app.close();
      expect((await fetch(`${app.http}/healthz`)).status).toBe(503);
      await expect(connect(app.url)).rejects.toMatchObject({ status: 503 });
      const codes = await Promise.all(many.map((c) => c.closed.then((r) => r.code)));
      expect(new Set(codes)).toEqual(new Set([1012]));
      await closing;
      // Spread over the window, not all at once. A lower bound only: the drain's timers never
      // fire early, so a slow machine can only spread the closes further.
      const span = Math.max(...closedAt) - Math.min(...closedAt);
      expect(span).toBeGreaterThanOrEqual(500);
    });
  });
});
