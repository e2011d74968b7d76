/** Tokens over time: a connection ends with its token unless the client refreshes it. */
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../daemons/app/token.ts';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

const SECRET = 's'.repeat(40);
/** The clock skew the node tolerates: a token is good until exp plus this. */
const LEEWAY = 30;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe('connection tokens over time', () => {
  const apps: InProcessApp[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function client(app: InProcessApp, token: string): Promise<TestClient> {
    const c = await connect(`${app.url}?token=${token}`);
    clients.push(c);
    await c.next(op('welcome'));
    return c;
  }

  it('closes a connection whose token expires with 4001 token_expired, unless it refreshed', async () => {
    const app = await startApp(['--drain-seconds', '0.2', '--token-secret', SECRET]);
    apps.push(app);
    // Good for about one more second, leeway included.
    const expiring = signToken({ exp: nowSeconds() - LEEWAY + 1, sub: 'ann' }, SECRET);
    const control = await client(app, expiring);
    const refreshed = await client(app, expiring);
    const exp = nowSeconds() + 3600;
    refreshed.send({ op: 'refresh', token: signToken({ exp, sub: 'ann' }, SECRET), id: 'r1' });
    expect(await refreshed.next(op('refreshed'))).toEqual({ op: 'refreshed', exp, id: 'r1' });

    expect(await control.closed).toEqual({ code: 4001, reason: 'token_expired' });
    refreshed.send({ op: 'ping', id: 'after' });
    expect(await refreshed.next(op('pong'))).toEqual({ op: 'pong', id: 'after' });
    expect(refreshed.ws.readyState).toBe(refreshed.ws.OPEN);
  });

  it.each([
    ['a malformed token', () => 'nope'],
    ['an expired token', () => signToken({ exp: nowSeconds() - 3600, sub: 'ann' }, SECRET)],
    [
      'a token signed with another secret',
      () => signToken({ exp: nowSeconds() + 60, sub: 'ann' }, 'x'.repeat(40)),
    ],
    ['a token for another subject', () => signToken({ exp: nowSeconds() + 60, sub: 'bob' }, SECRET)],
    ['no token', () => undefined],
  ])('refuses a refresh with %s (bad_token) and keeps the connection', async (_name, token) => {
    const app = await startApp(['--drain-seconds', '0.2', '--token-secret', SECRET]);
    apps.push(app);
    const c = await client(app, signToken({ exp: nowSeconds() + 60, sub: 'ann' }, SECRET));
    c.send({ op: 'refresh', token: token(), id: 7 });
    expect(await c.next(op('error'))).toMatchObject({ code: 'bad_token', id: 7 });
    c.send({ op: 'ping', id: 8 });
    expect(await c.next(op('pong'))).toEqual({ op: 'pong', id: 8 });
  });

  it('announces idempotency and refresh in the welcome frame', async () => {
    const app = await startApp(['--drain-seconds', '0.2']);
    apps.push(app);
    const c = await connect(app.url);
    clients.push(c);
    expect(await c.next(op('welcome'))).toMatchObject({ features: ['idempotency', 'refresh'] });
  });
});
