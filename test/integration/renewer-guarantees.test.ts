/**
 * The renewer's promises against real Pebble, each as the README states it: the rate guard
 * persists in the store (both backends) and survives a restart; a stored backoff holds every
 * later check; a certificate of another directory is replaced at once without `replaces`
 * (staging → production, with two Pebble instances); the lease fences the order.
 * In-process, so the clock can move; a restart is a new renewer on the same store.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ChallengeServer, createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import { renewerOptions } from '../../daemons/renewer/config.ts';
import { assembleRenewer } from '../../daemons/renewer/daemon.ts';
import { createRenewerMetrics } from '../../daemons/renewer/metrics.ts';
import type { Renewer } from '../../daemons/renewer/renewer.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import type { CertStore } from '../../daemons/shared/store/cert-store.ts';
import {
  createCertStore,
  createFileStore,
  createGcsStore,
  type ObjectStore,
} from '../../daemons/shared/store/index.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';
import type { AriProxy } from '../helpers/ari-proxy.ts';
import { freePort } from '../helpers/net.ts';
import { type Pebble, startPebble, trustAgent } from '../helpers/pebble.ts';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const quiet = () =>
  createLogger({ name: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('renewer guarantees on Pebble', () => {
  /** Two CAs, as Let's Encrypt's staging and production: different roots, different accounts. */
  let staging: Pebble;
  let production: Pebble;
  let httpPort: number;
  let dir: string;
  let gcs: GcsDouble;
  let stores = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    httpPort = await freePort();
    [staging, production] = await Promise.all([
      startPebble({ httpPort, ari: true }),
      startPebble({ httpPort, ari: true }),
    ]);
    production.ari?.refuseForeignReplaces();
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-guarantees-'));
    gcs = await startGcsDouble({ buckets: ['certs'] });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await Promise.all([staging?.stop(), production?.stop(), gcs?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const backends: { name: string; objects: () => ObjectStore }[] = [
    { name: 'file', objects: () => createFileStore(join(dir, `store-${stores++}`)) },
    {
      name: 'gcs',
      objects: () => createGcsStore({ bucket: 'certs', prefix: `store-${stores++}`, storage: gcs.storage() }),
    },
  ];

  function proxy(ca: Pebble): AriProxy {
    if (ca.ari === undefined) throw new Error('started without ari');
    return ca.ari;
  }

  /** The one HTTP-01 server on the port both CAs validate on; it answers from the store. */
  async function challengeServer(store: CertStore): Promise<ChallengeServer> {
    const server = createChallengeServer({
      host: '127.0.0.1',
      port: httpPort,
      log: quiet(),
      lookup: (token) => store.challenge(token),
    });
    await server.start();
    cleanups.push(() => server.close());
    return server;
  }

  /** A renewer of `ca` on `store`; each call is a new process as far as the store can tell. */
  function renewerOf(
    ca: Pebble,
    store: CertStore,
    challenges: ChallengeServer,
    clock: { now: Date },
    extra: string[] = [],
  ): Renewer {
    const { config } = parseConfig(
      renewerOptions,
      [
        '--directory-url',
        proxy(ca).directoryUrl,
        '--dns-server',
        ca.dnsServer,
        '--self-check-port',
        String(httpPort),
        '--lease-seconds',
        '5',
        '--owner',
        'renewer',
        ...extra,
      ],
      {},
    );
    return assembleRenewer(config, {
      store,
      challenges,
      log: quiet(),
      metrics: createRenewerMetrics(),
      agent: trustAgent(ca.caPem),
      now: () => clock.now,
    }).renewer;
  }

  describe.each(backends)('rate guard ($name store)', ({ objects }) => {
    it('refuses a third forced certificate in 7 days, also after a restart, until told to ignore it', async () => {
      const store = createCertStore(objects());
      const challenges = await challengeServer(store);
      const clock = { now: new Date() };
      const spec = { name: `guard-${stores}.test`, domains: [`guard-${stores}.test`] };
      const finalizes = () => proxy(production).finalizes.length;
      const before = finalizes();

      const first = renewerOf(production, store, challenges, clock);
      expect(await first.check(spec)).toMatchObject({ result: 'renewed' });
      expect(await first.check(spec, { force: true })).toMatchObject({ result: 'renewed' });
      const refused = await first.check(spec, { force: true });
      expect(refused).toMatchObject({ result: 'rate_limited' });
      expect(finalizes() - before).toBe(2);

      const stored = (await store.state(spec.name))?.finalizedAt ?? [];
      expect(stored).toHaveLength(2);
      const nextAllowed = new Date(Date.parse(stored[0] as string) + 7 * DAY).toISOString();
      expect(refused).toMatchObject({ nextAllowed });

      // A restart: nothing in memory, the guard still holds.
      const restarted = renewerOf(production, store, challenges, clock);
      expect(await restarted.check(spec, { force: true })).toMatchObject({
        result: 'rate_limited',
        nextAllowed,
      });
      expect(finalizes() - before).toBe(2);

      expect(await restarted.check(spec, { force: true, ignoreRateGuard: true })).toMatchObject({
        result: 'renewed',
      });
      expect(finalizes() - before).toBe(3);
      expect((await store.state(spec.name))?.finalizedAt).toHaveLength(3);
    });
  });

  describe('persistent backoff', () => {
    it('does not try again before the stored retry time: not on the next check, not after a restart', async () => {
      const store = createCertStore(backends[0]?.objects() as ObjectStore);
      const challenges = await challengeServer(store);
      const clock = { now: new Date() };
      const spec = { name: 'backoff.test', domains: ['backoff.test'] };
      const orders = () => proxy(production).newOrders.length;
      const before = orders();

      proxy(production).failNewOrder(
        { type: 'rateLimited', detail: 'too many', status: 429, retryAfterSeconds: 7200 },
        1,
      );
      const renewer = renewerOf(production, store, challenges, clock);
      const failed = await renewer.check(spec);
      expect(failed).toMatchObject({ result: 'failed' });
      const retryAt = failed.result === 'failed' ? failed.retryAt : undefined;
      expect(Date.parse(retryAt ?? '') - clock.now.getTime()).toBeGreaterThanOrEqual(2 * HOUR);
      expect(orders() - before).toBe(1);

      expect(await renewer.check(spec)).toMatchObject({
        result: 'backoff',
        retryAt,
        code: failed.result === 'failed' ? failed.code : '',
      });
      expect(renewer.nextCheck(spec.name)?.toISOString()).toBe(retryAt);
      const restarted = renewerOf(production, store, challenges, clock);
      expect(await restarted.check(spec)).toMatchObject({ result: 'backoff', retryAt });
      expect(restarted.nextCheck(spec.name)?.toISOString()).toBe(retryAt);
      expect(orders() - before).toBe(1);

      clock.now = new Date(Date.parse(retryAt ?? '') + 1_000);
      expect(await restarted.check(spec)).toMatchObject({ result: 'renewed' });
      expect(orders() - before).toBe(2);
      expect((await store.state(spec.name))?.nextAttemptAt).toBeUndefined();
    });

    it('does not retry a permanent refusal as time passes, only once the settings change or it is forced', async () => {
      const store = createCertStore(backends[0]?.objects() as ObjectStore);
      const challenges = await challengeServer(store);
      const clock = { now: new Date() };
      const spec = { name: 'refused.test', domains: ['refused.test'] };
      const orders = () => proxy(production).newOrders.length;
      const before = orders();

      proxy(production).failNewOrder(
        { type: 'rejectedIdentifier', detail: 'policy forbids', status: 400 },
        1,
      );
      const renewer = renewerOf(production, store, challenges, clock);
      const failed = await renewer.check(spec);
      expect(failed).toMatchObject({ result: 'failed' });
      expect(failed.result === 'failed' && failed.retryAt).toBeUndefined();
      clock.now = new Date(clock.now.getTime() + 13 * HOUR);
      const held = await renewerOf(production, store, challenges, clock).check(spec);
      expect(held).toMatchObject({ result: 'backoff', code: failed.result === 'failed' ? failed.code : '' });
      expect(held.result === 'backoff' && held.retryAt).toBeUndefined();
      expect(renewer.tracks().get(spec.name)).toMatchObject({
        onTrack: false,
        reason: expect.stringMatching(/^no certificate stored yet; last attempt failed/),
      });
      expect(orders() - before).toBe(1);

      // Other names are other settings: tried at once.
      const changed = { name: 'refused.test', domains: ['refused.test', 'www.refused.test'] };
      expect(await renewer.check(changed)).toMatchObject({ result: 'renewed' });
      expect(orders() - before).toBe(2);
    });
  });

  describe('directory switch', () => {
    it('replaces a staging certificate at once when production is configured, ordering it without replaces', async () => {
      const objects = backends[0]?.objects() as ObjectStore;
      const store = createCertStore(objects);
      const challenges = await challengeServer(store);
      const clock = { now: new Date() };
      const spec = { name: 'switch.test', domains: ['switch.test'] };

      expect(await renewerOf(staging, store, challenges, clock).check(spec)).toMatchObject({
        result: 'renewed',
      });
      const fromStaging = (await store.current(spec.name))?.certificate;
      expect(fromStaging?.directoryUrl).toBe(proxy(staging).directoryUrl);

      // One setting changes (the directory); the certificate has most of its lifetime left.
      const ordersBefore = proxy(production).newOrders.length;
      const renewer = renewerOf(production, store, challenges, clock);
      expect(await renewer.check(spec)).toMatchObject({ result: 'renewed' });
      const newOrders = proxy(production).newOrders.slice(ordersBefore);
      expect(newOrders.map((o) => o.payload.replaces)).toEqual([undefined]);
      const fromProduction = (await store.current(spec.name))?.certificate;
      expect(fromProduction?.directoryUrl).toBe(proxy(production).directoryUrl);
      const root = new X509Certificate(await production.rootsPem());
      const intermediate = new X509Certificate(await production.intermediatesPem());
      expect(new X509Certificate(fromProduction?.certificatePem ?? '').verify(intermediate.publicKey)).toBe(
        true,
      );
      expect(intermediate.verify(root.publicKey)).toBe(true);

      expect(renewer.tracks().get(spec.name)).toMatchObject({ onTrack: true });
      // The certificates staging issued do not count against production's guard.
      expect((await store.state(spec.name))?.finalizedAt).toHaveLength(1);
      // From now on it is production's own certificate: not due, and a forced renewal replaces it.
      expect(await renewer.check(spec)).toMatchObject({ result: 'not_due' });
      expect(await renewer.check(spec, { force: true })).toMatchObject({ result: 'renewed' });
      expect(proxy(production).newOrders.at(-1)?.payload.replaces).toBe(fromProduction?.ariCertId);
    });
  });

  describe('crash safety', () => {
    it('stores the certificate issued before a store outage once the store is back, without a second finalize', async () => {
      const objects = createGcsStore({
        bucket: 'certs',
        prefix: `outage-${stores++}`,
        storage: gcs.storage(),
      });
      const clock = { now: new Date() };
      // The lease expires by the test's clock, so the retry can take it after the outage.
      const store = createCertStore(objects, { now: () => clock.now });
      const challenges = await challengeServer(store);
      const spec = { name: 'outage-after.test', domains: ['outage-after.test'] };
      const finalizes = () => proxy(production).finalizes.length;
      const before = finalizes();
      let issuedSerial: unknown;

      const renewer = renewerOf(production, store, challenges, clock);
      let down: Promise<void> | undefined;
      const failed = await renewer.check(spec, {
        progress: (event) => {
          // The CA has issued; the store goes away before the certificate reaches it.
          if (event.step === 'issued') {
            issuedSerial = event.serial;
            down = gcs.fail({ kind: 'down' });
          }
        },
      });
      await down;
      await gcs.fail({ kind: 'none' });
      expect(failed).toMatchObject({ result: 'failed', code: 'WSFLEET_STORE_UNAVAILABLE' });
      expect(await store.current(spec.name)).toBeUndefined();
      expect(finalizes() - before).toBe(1);

      clock.now = new Date(clock.now.getTime() + DAY);
      const outcome = await renewerOf(production, store, challenges, clock).check(spec);
      expect(outcome).toMatchObject({ result: 'renewed', serial: issuedSerial });
      expect((await store.current(spec.name))?.certificate.serial).toBe(issuedSerial);
      expect(finalizes() - before).toBe(1);
      const state = await store.state(spec.name);
      expect(state?.pending).toBeUndefined();
      expect(state?.finalizedAt).toHaveLength(1);
    });
  });

  describe('fencing', () => {
    it.each([
      ['before finalize', 'authorize', 0],
      ['after finalize, before publish', 'issued', 1],
    ])('gives the order up when the lease was taken over %s', async (_when, step, finalized) => {
      const objects = backends[0]?.objects() as ObjectStore;
      // The renewer stalls at `step` (its lease writes wait) while another renewer, whose clock
      // says the lease has expired, takes it over.
      let stall: Promise<void> | undefined;
      const stalling: ObjectStore = {
        url: objects.url,
        get: (key) => objects.get(key),
        stat: (key) => objects.stat(key),
        list: (prefix) => objects.list(prefix),
        delete: (key, options) => objects.delete(key, options),
        put: async (key, data, options) => {
          if (stall !== undefined && key.startsWith('locks/')) await stall;
          return objects.put(key, data, options);
        },
      };
      const store = createCertStore(stalling);
      const challenges = await challengeServer(store);
      const clock = { now: new Date() };
      const spec = { name: `fenced-${step}.test`, domains: [`fenced-${step}.test`] };
      const before = proxy(production).finalizes.length;
      const later = createCertStore(objects, { now: () => new Date(Date.now() + 60_000) });
      let intruder: Awaited<ReturnType<CertStore['lock']>>;

      const outcome = await renewerOf(production, store, challenges, clock).check(spec, {
        progress: (event) => {
          if (event.step === step && stall === undefined)
            stall = later.lock(spec.name, 'intruder', 600_000).then((lease) => {
              intruder = lease;
            });
        },
      });
      expect(intruder?.owner).toBe('intruder');
      expect(outcome).toMatchObject({ result: 'failed', code: 'WSFLEET_STORE_PRECONDITION' });
      expect(proxy(production).finalizes.length - before).toBe(finalized);
      expect(await store.current(spec.name)).toBeUndefined();
      await intruder?.release();
    });
  });
});
