import { describe, expect, it } from 'vitest';
import type { Message, Missed } from '../../client/index.ts';
import { flush, harness } from '../helpers/client-fakes.ts';

describe('wsfleet/client subscriptions', () => {
  it('subscribes once connected and delivers messages with their offsets', async () => {
    const h = await harness();
    const sub = h.client.subscribe('news');
    const got: Message[] = [];
    sub.on('message', (m) => got.push(m));
    expect(h.socket().sent).toEqual([]);
    h.socket().welcome();
    expect(h.socket().ops('subscribe')).toEqual([
      { op: 'subscribe', channel: 'news', id: expect.any(Number) },
    ]);
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e1', offset: 4, recovered: true });
    expect(sub.state).toBe('subscribed');
    h.socket().frame({ op: 'message', channel: 'news', data: { a: 1 }, offset: 5 });
    expect(got).toEqual([{ channel: 'news', data: { a: 1 }, offset: 5, epoch: 'e1' }]);
    expect(sub.position).toEqual({ epoch: 'e1', offset: 5 });
    h.client.close();
  });

  it('resumes from the last offset and epoch after a reconnect, dropping what it already had', async () => {
    const h = await harness({}, 0);
    const sub = h.client.subscribe('news');
    const offsets: number[] = [];
    sub.on('message', (m) => offsets.push(m.offset));
    h.socket().welcome({ node: 'node-a' });
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e1', offset: 0, recovered: true });
    for (const offset of [1, 2, 3])
      h.socket().frame({ op: 'message', channel: 'news', data: offset, offset });
    h.socket().serverClose(1006);
    expect(sub.state).toBe('subscribing');
    await h.clock.advance(0);
    h.socket().welcome({ node: 'node-b' });
    expect(h.socket().ops('subscribe')).toEqual([
      { op: 'subscribe', channel: 'news', since: 3, epoch: 'e1', id: expect.any(Number) },
    ]);
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e1', offset: 3, recovered: true });
    for (const offset of [3, 4, 5])
      h.socket().frame({ op: 'message', channel: 'news', data: offset, offset });
    expect(offsets).toEqual([1, 2, 3, 4, 5]);
    h.client.close();
  });

  it('starts from a stored position: since and epoch', async () => {
    const h = await harness();
    h.client.subscribe('news', { since: 7, epoch: 'e9' });
    h.socket().welcome();
    expect(h.socket().ops('subscribe')[0]).toMatchObject({ since: 7, epoch: 'e9' });
    h.client.close();
  });

  it.each([
    [{ since: 3 }, 'bad_argument'],
    [{ epoch: 'e' }, 'bad_argument'],
    [{ since: -1, epoch: 'e' }, 'bad_argument'],
  ])('refuses the start %o with %s (the server refuses since without epoch)', async (from, code) => {
    const h = await harness();
    expect(() => h.client.subscribe('news', from)).toThrow(
      expect.objectContaining({ code }) as unknown as Error,
    );
    h.client.close();
  });

  it('refuses a bad channel name and a second subscription to one channel', async () => {
    const h = await harness();
    expect(() => h.client.subscribe('no spaces')).toThrow(
      expect.objectContaining({ code: 'bad_argument' }) as never,
    );
    h.client.subscribe('news');
    expect(() => h.client.subscribe('news')).toThrow(
      expect.objectContaining({ code: 'already_subscribed' }) as never,
    );
    h.client.close();
  });

  it.each([
    ['too_old', 'too_old'],
    ['epoch_changed', 'epoch_changed'],
    ['unavailable', 'unavailable'],
  ])('surfaces recovered:false with reason %s as a missed event, then carries on', async (reason) => {
    const h = await harness();
    const sub = h.client.subscribe('news', { since: 2, epoch: 'old' });
    const missed: Missed[] = [];
    sub.on('missed', (m) => missed.push(m));
    h.socket().welcome();
    h.socket().frame({
      op: 'subscribed',
      channel: 'news',
      epoch: 'new',
      offset: 40,
      recovered: false,
      reason,
    });
    expect(missed).toEqual([{ channel: 'news', reason, epoch: 'new', offset: 40 }]);
    expect(sub.position).toEqual({ epoch: 'new', offset: 40 });
    h.client.close();
  });

  it('reports a skipped offset on a live connection as missed with reason gap', async () => {
    const h = await harness();
    const sub = h.client.subscribe('news');
    const missed: Missed[] = [];
    sub.on('missed', (m) => missed.push(m));
    h.socket().welcome();
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e', offset: 0, recovered: true });
    h.socket().frame({ op: 'message', channel: 'news', data: 1, offset: 1 });
    h.socket().frame({ op: 'message', channel: 'news', data: 4, offset: 4 });
    expect(missed).toEqual([{ channel: 'news', reason: 'gap', epoch: 'e', offset: 3 }]);
    h.client.close();
  });

  it('ends a subscription the server forbids, with the server code', async () => {
    const h = await harness();
    const sub = h.client.subscribe('secret');
    const codes: string[] = [];
    sub.on('error', (e) => codes.push(e.code));
    h.socket().welcome();
    const id = h.socket().ops('subscribe')[0]?.id;
    h.socket().frame({ op: 'error', code: 'forbidden', message: 'no', channel: 'secret', id });
    expect(codes).toEqual(['forbidden']);
    expect(sub.state).toBe('failed');
    expect(() => h.client.subscribe('secret')).not.toThrow();
    h.client.close();
  });

  it('retries subscribe_failed after 1–3 s on the same connection', async () => {
    const h = await harness({}, 0.5);
    h.client.subscribe('news');
    h.socket().welcome();
    const id = h.socket().ops('subscribe')[0]?.id;
    h.socket().frame({ op: 'error', code: 'subscribe_failed', message: 'retry', channel: 'news', id });
    await h.clock.advance(1_999);
    expect(h.socket().ops('subscribe')).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.socket().ops('subscribe')).toHaveLength(2);
    h.client.close();
  });

  it('unsubscribes: sends the frame, stops delivery and ends iterators', async () => {
    const h = await harness();
    const sub = h.client.subscribe('news');
    h.socket().welcome();
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e', offset: 0, recovered: true });
    const iterator = sub[Symbol.asyncIterator]();
    h.socket().frame({ op: 'message', channel: 'news', data: 'x', offset: 1 });
    sub.unsubscribe();
    h.socket().frame({ op: 'message', channel: 'news', data: 'y', offset: 2 });
    expect(h.socket().ops('unsubscribe')).toEqual([{ op: 'unsubscribe', channel: 'news' }]);
    expect(await iterator.next()).toEqual({ done: false, value: expect.objectContaining({ data: 'x' }) });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    h.client.close();
  });

  it('yields messages to for await as they arrive', async () => {
    const h = await harness();
    const sub = h.client.subscribe('news');
    h.socket().welcome();
    h.socket().frame({ op: 'subscribed', channel: 'news', epoch: 'e', offset: 0, recovered: true });
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const m of sub) {
        seen.push(m.data);
        if (seen.length === 3) break;
      }
    })();
    for (const offset of [1, 2, 3]) {
      h.socket().frame({ op: 'message', channel: 'news', data: offset, offset });
      await flush();
    }
    await reading;
    expect(seen).toEqual([1, 2, 3]);
    h.client.close();
  });
});
