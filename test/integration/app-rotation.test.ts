/**
 * Rotating the token secret and the API key without downtime: during the overlap a node
 * started with the new value and the previous one (`--token-secret-previous`,
 * `--api-key-previous`) takes both; once the rotation is finished, the node started with the new
 * value alone refuses what the previous one signed.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../daemons/app/token.ts';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

const OLD_SECRET = 'o'.repeat(43);
const NEW_SECRET = 'n'.repeat(43);
const OLD_KEY = 'old-key-'.repeat(4);
const NEW_KEY = 'new-key-'.repeat(4);
const exp = () => Math.floor(Date.now() / 1000) + 600;

describe('secret rotation on a node', () => {
  const apps: InProcessApp[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function node(args: string[]): Promise<InProcessApp> {
    const app = await startApp(['--drain-seconds', '0.2', ...args]);
    apps.push(app);
    return app;
  }

  /** The HTTP status of an upgrade with a token signed by `secret` (101: taken). */
  function upgrade(app: InProcessApp, secret: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(`${app.http}/ws?token=${signToken({ exp: exp(), sub: 'ann' }, secret)}`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
        timeout: 10_000,
      });
      req.on('upgrade', (_res, socket) => {
        socket.destroy();
        resolve(101);
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('no answer to the upgrade')));
      req.on('error', reject);
      req.end();
    });
  }

  async function publish(app: InProcessApp, key: string): Promise<number> {
    const res = await fetch(`${app.http}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'news', data: 1 }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  it('takes tokens and API keys of the new and the previous value during the overlap', async () => {
    const app = await node([
      '--token-secret',
      NEW_SECRET,
      '--token-secret-previous',
      OLD_SECRET,
      '--api-key',
      NEW_KEY,
      '--api-key-previous',
      OLD_KEY,
    ]);
    for (const secret of [NEW_SECRET, OLD_SECRET]) {
      const c = await connect(`${app.url}?token=${signToken({ exp: exp(), sub: 'ann' }, secret)}`);
      clients.push(c);
      await c.next(op('welcome'));
      // A refresh signed with either value keeps the connection too.
      c.send({ op: 'refresh', token: signToken({ exp: exp(), sub: 'ann' }, OLD_SECRET), id: 1 });
      expect(await c.next(op('refreshed'))).toMatchObject({ op: 'refreshed', id: 1 });
    }
    expect(await upgrade(app, OLD_SECRET)).toBe(101);
    expect(await upgrade(app, 'x'.repeat(43))).toBe(401);
    expect(await publish(app, NEW_KEY)).toBe(200);
    expect(await publish(app, OLD_KEY)).toBe(200);
    expect(await publish(app, 'other-key-'.repeat(4))).toBe(401);
  });

  it('takes only the new value once the rotation is finished', async () => {
    const app = await node(['--token-secret', NEW_SECRET, '--api-key', NEW_KEY]);
    const c = await connect(`${app.url}?token=${signToken({ exp: exp(), sub: 'ann' }, NEW_SECRET)}`);
    clients.push(c);
    await c.next(op('welcome'));
    c.send({ op: 'refresh', token: signToken({ exp: exp(), sub: 'ann' }, OLD_SECRET), id: 2 });
    expect(await c.next(op('error'))).toMatchObject({ code: 'bad_token', id: 2 });
    expect(await upgrade(app, OLD_SECRET)).toBe(401);
    expect(await publish(app, NEW_KEY)).toBe(200);
    expect(await publish(app, OLD_KEY)).toBe(401);
  });
});
