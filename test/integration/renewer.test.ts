/**
 * The renewer against real Pebble (Let's Encrypt's test CA) and pebble-challtestsrv as DNS:
 * issuance over HTTP-01 through the renewer's own challenge server, renewal in the window,
 * races, CA errors and store outages. In-process, so the clock can move.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ChallengeServer, createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import { type RenewerConfig, renewerOptions } from '../../daemons/renewer/config.ts';
import { assembleRenewer, createRenewerDaemon, type RenewerDaemon } from '../../daemons/renewer/daemon.ts';
import { createRenewerMetrics } from '../../daemons/renewer/metrics.ts';
import type { Renewer } from '../../daemons/renewer/renewer.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import type { CertStore } from '../../daemons/shared/store/cert-store.ts';
import { createCertStore, createFileStore, createGcsStore } from '../../daemons/shared/store/index.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';
import { freePort } from '../helpers/net.ts';
import { type Pebble, startPebble, trustAgent } from '../helpers/pebble.ts';
import { waitFor } from '../helpers/wait.ts';

const DAY = 24 * 3600 * 1000;
const quiet = () =>
  createLogger({ name: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('renewer on Pebble', () => {
  let pebble: Pebble;
  let httpPort: number;
  let dir: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    httpPort = await freePort();
    pebble = await startPebble({ httpPort, ari: true });
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-renewer-'));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await pebble?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let storeCount = 0;
  let owners = 0;
  function fileStore(): CertStore {
    return createCertStore(createFileStore(join(dir, `store-${storeCount++}`)));
  }

  function config(extra: string[] = []): RenewerConfig {
    const directory = pebble.ari?.directoryUrl ?? pebble.directoryUrl;
    return parseConfig(
      renewerOptions,
      [
        '--directory-url',
        directory,
        '--email',
        'ops@example.com',
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(httpPort),
        '--self-check-port',
        String(httpPort),
        '--dns-server',
        pebble.dnsServer,
        '--metrics-port',
        '0',
        '--control-socket',
        join(dir, `control-${storeCount}.sock`),
        '--lease-seconds',
        '5',
        ...extra,
      ],
      {},
    ).config;
  }

  /** A renewer with its own challenge server on Pebble's HTTP-01 port, and a movable clock. */
  async function standalone(
    store: CertStore,
    clock: { now: Date },
    shared?: ChallengeServer,
  ): Promise<Renewer & { challenges: ChallengeServer }> {
    const log = quiet();
    let challenges = shared;
    if (challenges === undefined) {
      // As the daemon does: tokens another renewer of the store holds are answered from the store.
      const server = createChallengeServer({
        host: '127.0.0.1',
        port: httpPort,
        log,
        lookup: (token) => store.challenge(token),
      });
      await server.start();
      cleanups.push(() => server.close());
      challenges = server;
    }
    const { renewer } = assembleRenewer(config(['--owner', `renewer-${owners++}`]), {
      store,
      challenges,
      log,
      metrics: createRenewerMetrics(),
      agent: trustAgent(pebble.caPem),
      now: () => clock.now,
    });
    return Object.assign(renewer, { challenges });
  }

  async function verifiesToPebble(pem: string): Promise<boolean> {
    const [leaf, ...chain] = pem
      .split(/(?<=-----END CERTIFICATE-----)\s*/)
      .filter((p) => p.includes('BEGIN'));
    const certs = [leaf, ...chain].map((p) => new X509Certificate(p as string));
    const root = new X509Certificate(await pebble.rootsPem());
    const all = [...certs, root];
    return all.slice(0, -1).every((cert, i) => cert.verify((all[i + 1] as X509Certificate).publicKey));
  }

  it('issues the first certificate at start and keeps it in the store', async () => {
    const store = fileStore();
    const daemon: RenewerDaemon = createRenewerDaemon(config(['--cert', 'first.test,www.first.test']), {
      log: quiet(),
      store,
      agent: trustAgent(pebble.caPem),
    });
    cleanups.push(() => daemon.close());
    await daemon.start();
    const current = await waitFor(
      () => store.current('first.test'),
      30_000,
      'first certificate in the store',
    );
    const cert = current.certificate;
    expect(cert.domains).toEqual(['first.test', 'www.first.test']);
    expect(new X509Certificate(cert.certificatePem).subjectAltName).toBe(
      'DNS:first.test, DNS:www.first.test',
    );
    expect(await verifiesToPebble(cert.certificatePem)).toBe(true);
    expect(
      new X509Certificate(cert.certificatePem).checkPrivateKey(createPrivateKey(cert.privateKeyPem)),
    ).toBe(true);
    const metrics = await waitFor(
      async () => {
        const text = await daemon.metrics.registry.metrics();
        return /wsfleet_renewer_certificate_ready_status\{name="first.test"\} 1/.test(text)
          ? text
          : undefined;
      },
      5_000,
      'the ready gauge',
    );
    expect(metrics).toMatch(/wsfleet_renewer_certificates_issued_total\{name="first.test"\} 1/);
    expect((await store.account(config().directoryUrl as string))?.accountUrl).toMatch(/^https:/);
  });

  it('renews inside the window, not before, and sends ARI replaces', async () => {
    const store = fileStore();
    const clock = { now: new Date() };
    const renewer = await standalone(store, clock);
    const spec = { name: 'window.test', domains: ['window.test'] };
    expect(await renewer.check(spec)).toMatchObject({ result: 'renewed' });
    const first = (await store.current('window.test'))?.certificate;
    if (first === undefined) throw new Error('no certificate');
    const notBefore = Date.parse(first.notBefore);
    const lifetime = Date.parse(first.notAfter) - notBefore;
    clock.now = new Date(notBefore + lifetime / 2);
    expect(await renewer.check(spec)).toMatchObject({ result: 'not_due' });
    clock.now = new Date(notBefore + (lifetime * 2) / 3 + DAY);
    const ordersBefore = pebble.ari?.newOrders.length ?? 0;
    expect(await renewer.check(spec)).toMatchObject({ result: 'renewed' });
    const second = (await store.current('window.test'))?.certificate;
    expect(second?.serial).not.toBe(first.serial);
    expect(pebble.ari?.newOrders.slice(ordersBefore).map((o) => o.payload.replaces)).toEqual([
      first.ariCertId,
    ]);
  });

  it('follows the CA renewal window (ARI) when it offers one', async () => {
    const store = fileStore();
    const clock = { now: new Date() };
    const renewer = await standalone(store, clock);
    const spec = { name: 'ari.test', domains: ['ari.test'] };
    await renewer.check(spec);
    const first = (await store.current('ari.test'))?.certificate;
    if (first === undefined) throw new Error('no certificate');
    // The CA asks for renewal now (as after a revocation), long before the lifetime rule would.
    pebble.ari?.setWindow(first.ariCertId, {
      start: new Date(clock.now.getTime() - 60_000),
      end: new Date(clock.now.getTime() - 1),
    });
    expect(await renewer.check(spec)).toMatchObject({ result: 'renewed' });
    expect(pebble.ari?.renewalInfoRequests).toContain(first.ariCertId);
  });

  it('lets exactly one of two racing renewers order', async () => {
    const store = fileStore();
    const clock = { now: new Date() };
    const a = await standalone(store, clock);
    // One HTTP-01 port on this machine: both answer challenges from the same server.
    const b = await standalone(store, clock, a.challenges);
    const spec = { name: 'race.test', domains: ['race.test'] };
    const ordersBefore = pebble.ari?.newOrders.length ?? 0;
    const results = await Promise.all([a.check(spec), b.check(spec)]);
    expect(results.map((r) => r.result).sort()).toEqual(['locked', 'renewed']);
    expect((pebble.ari?.newOrders.length ?? 0) - ordersBefore).toBe(1);
  });

  it('gets a certificate when the CA reaches another renewer of the store, which answers from the store', async () => {
    const objects = createFileStore(join(dir, `store-${storeCount++}`));
    const store = createCertStore(objects);
    const clock = { now: new Date() };
    // The renewer the name leads to (Pebble's HTTP-01 port) has nothing to order itself.
    await standalone(store, clock);
    // The one that orders serves on a port neither the CA nor the self-check reaches.
    const unreachable = createChallengeServer({ host: '127.0.0.1', port: 0, log: quiet() });
    await unreachable.start();
    cleanups.push(() => unreachable.close());
    const b = await standalone(store, clock, unreachable);
    const outcome = await b.check({ name: 'elsewhere-b.test', domains: ['elsewhere-b.test'] });
    expect(outcome.result).toBe('renewed');
    expect((await store.current('elsewhere-b.test'))?.certificate.domains).toEqual(['elsewhere-b.test']);
    // Answers and probes are gone from the store once the order is done.
    expect(await objects.list('challenges/')).toEqual([]);
  });

  it('does not order when a name does not reach this renewer, and says where it broke', async () => {
    const store = fileStore();
    const renewer = await standalone(store, { now: new Date() });
    // Point the name at an address where nothing listens.
    await fetch(`${pebble.challtestsrvUrl}/add-a`, {
      method: 'POST',
      body: JSON.stringify({ host: 'elsewhere.test', addresses: ['127.0.0.9'] }),
    });
    const ordersBefore = pebble.ari?.newOrders.length ?? 0;
    const outcome = await renewer.check({ name: 'elsewhere.test', domains: ['elsewhere.test'] });
    expect(outcome).toMatchObject({ result: 'failed', code: 'WSFLEET_SELF_CHECK' });
    expect(outcome.result === 'failed' && outcome.message).toContain('127.0.0.9');
    expect(pebble.ari?.newOrders.length).toBe(ordersBefore);
    expect((await store.state('elsewhere.test'))?.lastError?.code).toBe('WSFLEET_SELF_CHECK');
    // Nothing reached the CA: checked again on the short fixed cadence (15 s ± 10 %), not backed off.
    const delay = outcome.result === 'failed' ? Date.parse(outcome.retryAt ?? '') - Date.now() : 0;
    expect(delay).toBeGreaterThan(10_000);
    expect(delay).toBeLessThanOrEqual(16_500);
  });

  it('retries the first CA failure after an hour of failed self-checks after a minute, not a day', async () => {
    const store = fileStore();
    const clock = { now: new Date() };
    const renewer = await standalone(store, clock);
    const name = 'late-dns.test';
    // The bucket remembers 240 failed self-checks: DNS was set late.
    await store.saveState(name, {
      failures: 240,
      lastError: { code: 'WSFLEET_SELF_CHECK', message: 'no address', at: clock.now.toISOString() },
    });
    pebble.ari?.failNewOrder({ type: 'serverInternal', detail: 'try again', status: 500 }, 1);
    const outcome = await renewer.check({ name, domains: [name] });
    expect(outcome).toMatchObject({ result: 'failed' });
    const delay = outcome.result === 'failed' ? Date.parse(outcome.retryAt ?? '') - clock.now.getTime() : 0;
    expect(delay).toBeGreaterThanOrEqual(54_000);
    expect(delay).toBeLessThanOrEqual(66_000);
    expect((await store.state(name))?.failures).toBe(1);
  });

  it.each([
    [
      'a permanent CA refusal is not retried',
      { type: 'rejectedIdentifier', detail: 'policy forbids', status: 400 },
      false,
    ],
    [
      'a rate limit is retried after Retry-After',
      { type: 'rateLimited', detail: 'slow down', status: 429, retryAfterSeconds: 7200 },
      true,
    ],
  ])('%s', async (_name, problem, retried) => {
    const store = fileStore();
    const clock = { now: new Date() };
    const renewer = await standalone(store, clock);
    pebble.ari?.failNewOrder(problem, 1);
    const outcome = await renewer.check({
      name: `${problem.type.toLowerCase()}.test`,
      domains: [`${problem.type.toLowerCase()}.test`],
    });
    expect(outcome.result).toBe('failed');
    if (outcome.result !== 'failed') return;
    expect(outcome.retryAt !== undefined).toBe(retried);
    if (retried)
      expect(Date.parse(outcome.retryAt as string) - clock.now.getTime()).toBeGreaterThanOrEqual(7_200_000);
  });

  it('keeps the stored certificate when the store fails, and retries', async () => {
    const gcs: GcsDouble = await startGcsDouble({ buckets: ['certs'] });
    cleanups.push(() => gcs.stop());
    const store = createCertStore(createGcsStore({ bucket: 'certs', prefix: 'lab', storage: gcs.storage() }));
    const clock = { now: new Date() };
    const renewer = await standalone(store, clock);
    const spec = { name: 'outage.test', domains: ['outage.test'] };
    expect(await renewer.check(spec)).toMatchObject({ result: 'renewed' });
    const before = await store.current('outage.test');
    await gcs.fail({ kind: 'down' });
    const outcome = await renewer.check(spec, { force: true });
    expect(outcome).toMatchObject({ result: 'failed', code: 'WSFLEET_STORE_UNAVAILABLE' });
    expect(outcome.result === 'failed' && outcome.retryAt).toBeTruthy();
    await gcs.fail({ kind: 'none' });
    expect((await store.current('outage.test'))?.certificate.serial).toBe(before?.certificate.serial);
  });
});
