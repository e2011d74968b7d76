import { describe, expect, it } from 'vitest';
import { connect, DEFAULT_RECONNECT, WsfleetError } from '../../client/index.ts';
import { flush, harness } from '../helpers/client-fakes.ts';

/** A connect timeout the tests never reach, so only the timers under test fire. */
const NEVER = 3_600_000;

describe('wsfleet/client', () => {
  describe('connect', () => {
    it('offers the wsfleet subprotocol and carries the token as a second one', async () => {
      const h = await harness({ token: 'aaa.bbb.ccc' });
      expect(h.socket().url).toBe('wss://fleet.example/ws');
      expect(h.socket().protocols).toEqual(['wsfleet', 'wsfleet-token.aaa.bbb.ccc']);
      h.client.close();
    });

    it('reports connecting, then connected with the node, session and features of the welcome', async () => {
      const h = await harness();
      const events: unknown[] = [];
      h.client.on('connected', (c) => events.push(c));
      expect(h.client.state).toBe('connecting');
      h.socket().welcome({ node: 'node-b', session: 'abc', features: ['idempotency'], sub: 'u1' });
      expect(h.client.state).toBe('connected');
      expect(events).toMatchObject([
        { node: 'node-b', session: 'abc', version: '0.1.0', sub: 'u1', features: ['idempotency'] },
      ]);
      expect(h.client.connection?.node).toBe('node-b');
      h.client.close();
    });

    it.each([
      ['http://fleet.example/ws', 'bad_argument'],
      ['not a url', 'bad_argument'],
    ])('refuses %s with %s', (url, code) => {
      expect(() => connect(url, { WebSocket: class {} as never })).toThrow(
        expect.objectContaining({ code }) as unknown as Error,
      );
    });

    it('refuses to start without a WebSocket class (no_websocket)', () => {
      const g = globalThis as { WebSocket?: unknown };
      const saved = g.WebSocket;
      delete g.WebSocket;
      try {
        expect(() => connect('ws://127.0.0.1:1/ws')).toThrow(WsfleetError);
        expect(() => connect('ws://127.0.0.1:1/ws')).toThrow(/no WebSocket: pass one/);
      } finally {
        if (saved !== undefined) g.WebSocket = saved;
      }
    });

    it('ignores frames before the welcome and reports malformed ones as bad_server_frame errors', async () => {
      const h = await harness();
      const errors: string[] = [];
      h.client.on('error', (e) => errors.push(e.code));
      h.socket().frame('not json');
      h.socket().frame({ op: 'message', channel: 'c', data: 1, offset: 1 });
      expect(errors).toEqual(['bad_server_frame']);
      expect(h.client.state).toBe('connecting');
      h.client.close();
    });
  });

  describe('reconnect', () => {
    it('waits a full-jitter delay that doubles per failed attempt up to the cap', async () => {
      const h = await harness({ connectTimeoutMs: NEVER }, 0.999_999);
      const delays: (number | undefined)[] = [];
      h.client.on('disconnected', (d) => delays.push(d.reconnectInMs));
      for (let i = 0; i < 7; i++) {
        h.socket().serverClose(1006);
        await h.clock.advance(DEFAULT_RECONNECT.maxMs);
      }
      expect(delays).toEqual([499, 999, 1999, 3999, 7999, 14_999, 14_999]);
      expect(h.sockets).toHaveLength(8);
      h.client.close();
    });

    it('spreads full jitter over the whole window (random 0 reconnects at once)', async () => {
      const h = await harness({}, 0);
      h.socket().serverClose(1006);
      expect(h.client.state).toBe('disconnected');
      await h.clock.advance(0);
      expect(h.sockets).toHaveLength(2);
      h.client.close();
    });

    it('comes back within restartSpreadMs after 1012, without backing off', async () => {
      const h = await harness({}, 0.999_999);
      const delays: (number | undefined)[] = [];
      h.client.on('disconnected', (d) => delays.push(d.reconnectInMs));
      for (let i = 0; i < 4; i++) {
        h.socket().welcome();
        h.socket().serverClose(1012, 'service restart');
        await h.clock.advance(DEFAULT_RECONNECT.restartSpreadMs);
      }
      expect(delays).toEqual([999, 999, 999, 999]);
      h.client.close();
    });

    it.each([1008, 4003, 4999])(
      'waits refusedMs to twice that after close %i, not hammering',
      async (code) => {
        const low = await harness({}, 0);
        low.socket().serverClose(code);
        expect(low.clock.pending()).toEqual([DEFAULT_RECONNECT.refusedMs]);
        low.client.close();
        const high = await harness({}, 0.999_999);
        high.socket().serverClose(code);
        expect(high.clock.pending()).toEqual([2 * DEFAULT_RECONNECT.refusedMs - 1]);
        high.client.close();
      },
    );

    it('starts the schedule over once a connection stayed up stableMs', async () => {
      const h = await harness({ connectTimeoutMs: NEVER }, 0.999_999);
      const delays: (number | undefined)[] = [];
      h.client.on('disconnected', (d) => delays.push(d.reconnectInMs));
      h.socket().serverClose(1006);
      await h.clock.advance(DEFAULT_RECONNECT.maxMs);
      h.socket().serverClose(1006);
      await h.clock.advance(DEFAULT_RECONNECT.maxMs);
      h.socket().welcome();
      await h.clock.advance(DEFAULT_RECONNECT.stableMs);
      h.socket().serverClose(1006);
      expect(delays).toEqual([499, 999, 499]);
      h.client.close();
    });

    it('reconnects at once when the device comes back online', async () => {
      const h = await harness({}, 0.999_999);
      h.socket().serverClose(1006);
      h.page.comeOnline();
      await flush();
      expect(h.sockets).toHaveLength(2);
      h.client.close();
    });

    it('drops a connection that brings no welcome within connectTimeoutMs', async () => {
      const h = await harness({ connectTimeoutMs: 2_000 }, 0);
      await h.clock.advance(2_000);
      expect(h.sockets[0]?.closedWith).toEqual({ code: 4000, reason: 'no welcome' });
      await h.clock.advance(0);
      expect(h.sockets).toHaveLength(2);
      h.client.close();
    });

    it('does not reconnect after close()', async () => {
      const h = await harness({}, 0);
      h.socket().welcome();
      const events: unknown[] = [];
      h.client.on('disconnected', (d) => events.push(d));
      h.client.close();
      expect(h.socket().closedWith).toEqual({ code: 1000, reason: 'client closed' });
      expect(events).toEqual([{ code: 1000, reason: 'client closed', reconnectInMs: undefined }]);
      await h.clock.advance(60_000);
      expect(h.sockets).toHaveLength(1);
      expect(h.client.state).toBe('closed');
    });
  });

  describe('application ping', () => {
    it('pings every pingInterval and drops the connection when a whole interval brought no frame', async () => {
      const h = await harness({}, 0);
      h.socket().welcome({ pingInterval: 10 });
      await h.clock.advance(10_000);
      expect(h.socket().ops('ping')).toHaveLength(1);
      h.socket().frame({ op: 'pong' });
      await h.clock.advance(10_000);
      expect(h.socket().ops('ping')).toHaveLength(2);
      expect(h.client.state).toBe('connected');
      await h.clock.advance(10_000);
      expect(h.sockets[0]?.closedWith).toEqual({ code: 4000, reason: 'no answer to ping' });
      expect(h.client.state).not.toBe('connected');
      h.client.close();
    });

    it('checks the connection at once when the page turns visible', async () => {
      const h = await harness({ pongTimeoutMs: 3_000 }, 0);
      h.socket().welcome();
      h.page.becomeVisible();
      expect(h.socket().ops('ping')).toHaveLength(1);
      h.socket().frame({ op: 'pong' });
      await h.clock.advance(3_000);
      expect(h.client.state).toBe('connected');
      h.page.becomeVisible();
      await h.clock.advance(3_000);
      expect(h.sockets[0]?.closedWith).toEqual({ code: 4000, reason: 'no answer to ping' });
      await h.clock.advance(0);
      expect(h.sockets).toHaveLength(2);
      h.client.close();
    });
  });
});
