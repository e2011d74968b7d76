import { describe, expect, it } from 'vitest';
import type { WsfleetError } from '../../client/index.ts';
import { flush, harness } from '../helpers/client-fakes.ts';

/** Records how a promise settled, without an unhandled rejection in between. */
function settled<T>(promise: Promise<T>): { value?: T; error?: WsfleetError } {
  const out: { value?: T; error?: WsfleetError } = {};
  promise.then(
    (value) => {
      out.value = value;
    },
    (error: WsfleetError) => {
      out.error = error;
    },
  );
  return out;
}

describe('wsfleet/client publish', () => {
  it('resolves with the offset from the ack', async () => {
    const h = await harness();
    h.socket().welcome();
    const result = settled(h.client.publish('news', { text: 'hi' }));
    const [frame] = h.socket().ops('publish');
    expect(frame).toEqual({ op: 'publish', channel: 'news', data: { text: 'hi' }, id: expect.any(Number) });
    h.socket().frame({ op: 'ack', id: frame?.id, channel: 'news', offset: 12 });
    await flush();
    expect(result.value).toEqual({ channel: 'news', offset: 12 });
    h.client.close();
  });

  it.each(['publish_failed', 'forbidden', 'publish_disabled', 'rate_limited'])(
    'rejects with the server code %s',
    async (code) => {
      const h = await harness();
      h.socket().welcome();
      const result = settled(h.client.publish('news', 1));
      const id = h.socket().ops('publish')[0]?.id;
      h.socket().frame({ op: 'error', code, message: 'refused', channel: 'news', id });
      await flush();
      expect(result.error).toMatchObject({ name: 'WsfleetError', code, message: 'refused', channel: 'news' });
      h.client.close();
    },
  );

  it('holds a publish made while connecting until the welcome', async () => {
    const h = await harness();
    settled(h.client.publish('news', 1));
    expect(h.socket().sent).toEqual([]);
    h.socket().welcome();
    expect(h.socket().ops('publish')).toHaveLength(1);
    h.client.close();
  });

  it('rejects with disconnected when the connection drops and the server cannot deduplicate', async () => {
    const h = await harness({}, 0);
    h.socket().welcome({ features: [] });
    const result = settled(h.client.publish('news', 1));
    expect(h.socket().ops('publish')[0]).not.toHaveProperty('idempotencyKey');
    h.socket().serverClose(1006);
    await flush();
    expect(result.error?.code).toBe('disconnected');
    await h.clock.advance(0);
    h.socket().welcome({ features: [] });
    expect(h.socket().ops('publish')).toEqual([]);
    h.client.close();
  });

  it('retries with the same idempotency key on the next connection when both servers support it', async () => {
    const h = await harness({}, 0);
    h.socket().welcome({ features: ['idempotency'] });
    const result = settled(h.client.publish('news', 'once'));
    const first = h.socket().ops('publish')[0];
    expect(first?.idempotencyKey).toMatch(/^[0-9a-f]{32}$/);
    h.socket().serverClose(1012);
    await h.clock.advance(1_000);
    h.socket().welcome({ node: 'node-b', features: ['idempotency'] });
    const retry = h.socket().ops('publish')[0];
    expect(retry).toEqual(first);
    h.socket().frame({ op: 'ack', id: retry?.id, channel: 'news', offset: 3 });
    await flush();
    expect(result).toEqual({ value: { channel: 'news', offset: 3 } });
    h.client.close();
  });

  it('gives each publish its own idempotency key', async () => {
    const h = await harness();
    h.socket().welcome({ features: ['idempotency'] });
    settled(h.client.publish('news', 1));
    settled(h.client.publish('news', 1));
    const [a, b] = h.socket().ops('publish');
    expect(a?.idempotencyKey).not.toBe(b?.idempotencyKey);
    h.client.close();
  });

  it('rejects with timeout when no ack comes within publishTimeoutMs', async () => {
    const h = await harness({ publishTimeoutMs: 5_000 });
    h.socket().welcome();
    const result = settled(h.client.publish('news', 1));
    await h.clock.advance(4_999);
    expect(result).toEqual({});
    await h.clock.advance(1);
    expect(result.error?.code).toBe('timeout');
    h.client.close();
  });

  it('keeps the default timeout when the option is given as undefined', async () => {
    const h = await harness({ publishTimeoutMs: undefined });
    h.socket().welcome({ pingInterval: 1_000 });
    const result = settled(h.client.publish('news', 1));
    await h.clock.advance(14_999);
    expect(result).toEqual({});
    await h.clock.advance(1);
    expect(result.error?.code).toBe('timeout');
    h.client.close();
  });

  it('rejects what is pending with closed on close(), and later publishes at once', async () => {
    const h = await harness();
    const pending = settled(h.client.publish('news', 1));
    h.client.close();
    const later = settled(h.client.publish('news', 2));
    await flush();
    expect(pending.error?.code).toBe('closed');
    expect(later.error?.code).toBe('closed');
  });

  it.each([
    ['bad channel', 1, 'bad_argument'],
    ['news', undefined, 'bad_argument'],
  ])('refuses channel %j with data %j as %s without sending', async (channel, data, code) => {
    const h = await harness();
    h.socket().welcome();
    const result = settled(h.client.publish(channel, data));
    await flush();
    expect(result.error?.code).toBe(code);
    expect(h.socket().ops('publish')).toEqual([]);
    h.client.close();
  });
});
