import { describe, expect, it } from 'vitest';
import { fakeJwt, flush, harness } from '../helpers/client-fakes.ts';

const NOW_S = 1_700_000_000;
const MARGIN_MS = 30_000;

describe('wsfleet/client tokens', () => {
  it('fetches a token with getToken before the first connect', async () => {
    const token = fakeJwt(NOW_S + 600);
    const h = await harness({ getToken: async () => token });
    expect(h.socket().protocols).toEqual(['wsfleet', `wsfleet-token.${token}`]);
    h.client.close();
  });

  it('passes a token that does not fit a subprotocol in the query string', async () => {
    const h = await harness({ token: 'has space' });
    expect(h.socket().url).toBe('wss://fleet.example/ws?token=has%20space');
    expect(h.socket().protocols).toEqual(['wsfleet']);
    h.client.close();
  });

  it('refreshes refreshMarginMs before exp when the server supports refresh', async () => {
    const tokens = [fakeJwt(NOW_S + 600), fakeJwt(NOW_S + 1200)];
    let calls = 0;
    const h = await harness({ getToken: () => tokens[calls++] ?? 'none' });
    h.socket().welcome({ features: ['refresh'], pingInterval: 100_000 });
    await h.clock.advance(600_000 - MARGIN_MS - 1);
    expect(h.socket().ops('refresh')).toEqual([]);
    await h.clock.advance(1);
    expect(h.socket().ops('refresh')).toEqual([{ op: 'refresh', token: tokens[1], id: expect.any(Number) }]);
    const id = h.socket().ops('refresh')[0]?.id;
    h.socket().frame({ op: 'refreshed', exp: NOW_S + 1200, id });
    // Next refresh: 30 s before the new exp, 1170 s after the start, and 570 s have passed.
    expect(h.clock.pending()).toContain(600_000);
    h.client.close();
  });

  it('uses the new token from the next connect on when the server cannot refresh', async () => {
    const tokens = [fakeJwt(NOW_S + 600), fakeJwt(NOW_S + 1200)];
    let calls = 0;
    const h = await harness({ getToken: () => tokens[calls++] ?? 'none' }, 0);
    h.socket().welcome({ features: [], pingInterval: 100_000 });
    await h.clock.advance(600_000 - MARGIN_MS);
    expect(h.socket().ops('refresh')).toEqual([]);
    expect(calls).toBe(2);
    h.socket().serverClose(1006);
    await h.clock.advance(0);
    expect(h.socket().protocols).toContain(`wsfleet-token.${tokens[1]}`);
    expect(calls).toBe(2);
    h.client.close();
  });

  it('reports a refused refresh (bad_token) as an error event', async () => {
    const h = await harness({ getToken: () => fakeJwt(NOW_S + 60) });
    const codes: string[] = [];
    h.client.on('error', (e) => codes.push(e.code));
    h.socket().welcome({ features: ['refresh'], pingInterval: 100_000 });
    await h.clock.advance(30_000);
    const id = h.socket().ops('refresh')[0]?.id;
    h.socket().frame({ op: 'error', code: 'bad_token', message: 'expired', id });
    expect(codes).toEqual(['bad_token']);
    h.client.close();
  });

  it('fetches a new token and comes back soon after close 4001 token_expired', async () => {
    let calls = 0;
    const h = await harness({ getToken: () => fakeJwt(NOW_S + 600, { n: ++calls }) }, 0.5);
    h.socket().welcome();
    h.socket().serverClose(4001, 'token_expired');
    expect(h.clock.pending()[0]).toBe(500);
    await h.clock.advance(500);
    expect(calls).toBe(2);
    expect(h.sockets).toHaveLength(2);
    h.client.close();
  });

  it('closes with token_expired after 4001 when there is no getToken', async () => {
    const h = await harness({ token: fakeJwt(NOW_S + 60) });
    const codes: string[] = [];
    h.client.on('error', (e) => codes.push(e.code));
    h.socket().welcome();
    h.socket().serverClose(4001, 'token_expired');
    await flush();
    expect(codes).toEqual(['token_expired']);
    expect(h.client.state).toBe('closed');
    await h.clock.advance(60_000);
    expect(h.sockets).toHaveLength(1);
  });

  it('reports a getToken that throws as token_failed and retries on the schedule', async () => {
    let calls = 0;
    const h = await harness(
      {
        getToken: () => {
          calls++;
          if (calls === 1) throw new Error('auth server down');
          return fakeJwt(NOW_S + 600);
        },
      },
      0,
    );
    expect(h.sockets).toHaveLength(0);
    expect(h.client.state).toBe('disconnected');
    await h.clock.advance(0);
    expect(h.sockets).toHaveLength(1);
    h.client.close();
  });
});
