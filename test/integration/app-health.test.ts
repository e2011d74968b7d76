/**
 * Liveness versus readiness: autohealing must not recreate a VM because Redis blinked, and the
 * load balancer must not send clients to a node that cannot publish and deliver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect } from '../helpers/ws-client.ts';

async function probe(app: InProcessApp, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${app.http}${path}`);
  return { status: res.status, body: await res.json() };
}

describe('app health', () => {
  const apps: InProcessApp[] = [];
  const redises: RedisServer[] = [];

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(redises.splice(0).map((r) => r.stop()));
  });

  it('stays live but turns unready while Redis is unreachable, and ready again when it is back', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const app = await startApp(['--redis-url', redis.url, '--drain-seconds', '0.2']);
    apps.push(app);
    expect(await probe(app, '/livez')).toEqual({ status: 200, body: { status: 'live' } });
    expect(await probe(app, '/readyz')).toEqual({ status: 200, body: { status: 'ready' } });
    expect(await probe(app, '/healthz')).toEqual({ status: 200, body: { status: 'ready' } });

    const back = redis.restart(1_500);
    const unready = await waitFor(
      async () => {
        const r = await probe(app, '/readyz');
        return r.status === 503 ? r : undefined;
      },
      5_000,
      '/readyz to answer 503',
    );
    expect(unready.body).toEqual({ status: 'unready', reasons: ['broker unreachable'] });
    expect(await probe(app, '/healthz')).toEqual(unready);
    expect(await probe(app, '/livez')).toEqual({ status: 200, body: { status: 'live' } });
    await back;
    await waitFor(async () => (await probe(app, '/readyz')).status === 200, 10_000, '/readyz 200 again');
  });

  it('stays live while draining, unready with the reason draining', async () => {
    const app = await startApp(['--drain-seconds', '2']);
    apps.push(app);
    // Clients to close, so the drain takes its window.
    const clients = await Promise.all([...Array(10).keys()].map(() => connect(app.url)));
    const closing = app.close();
    expect(await probe(app, '/readyz')).toEqual({
      status: 503,
      body: { status: 'unready', reasons: ['draining'] },
    });
    expect(await probe(app, '/livez')).toEqual({ status: 200, body: { status: 'live' } });
    await closing;
    await Promise.all(clients.map((c) => c.close()));
  });
});
