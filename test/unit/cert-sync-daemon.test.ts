import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { certSyncOptions, parseArgv } from '../../daemons/cert-sync/config.ts';
import { type CertSync, createCertSync, pollDelayMs } from '../../daemons/cert-sync/daemon.ts';
import { readSyncState } from '../../daemons/cert-sync/state-file.ts';
import { RECHECK_MARGIN_MS } from '../../daemons/cert-sync/sync.ts';
import { createTrustAnchors } from '../../daemons/cert-sync/trust.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import {
  type CertStore,
  createCertStore,
  createFileStore,
  StoreError,
} from '../../daemons/shared/store/index.ts';
import {
  type Authority,
  type CertFactory,
  certificateVersion,
  createCertFactory,
  createFakeNginx,
  type FakeNginx,
  type Leaf,
} from '../helpers/certs.ts';
import { waitFor } from '../helpers/wait.ts';

const NAME = 'a.test';

/** A store whose reads are counted and can be made to fail as an unreachable store does. */
function instrumented(inner: CertStore) {
  const counts = { current: 0, currentGeneration: 0 };
  const control = { down: false };
  const check = () => {
    if (control.down)
      throw new StoreError('WSFLEET_STORE_UNAVAILABLE', 'The store could not be reached', {
        url: inner.url,
        cause: new Error('ECONNREFUSED'),
      });
  };
  const store: CertStore = {
    ...inner,
    async current(name) {
      counts.current++;
      check();
      return inner.current(name);
    },
    async currentGeneration(name) {
      counts.currentGeneration++;
      check();
      return inner.currentGeneration(name);
    },
  };
  return { store, counts, control };
}

describe('cert-sync daemon', () => {
  let factory: CertFactory;
  let rootPem: string;
  let leaves: Leaf[];
  let intermediate: Authority;
  const open: { dir: string; certSync: CertSync }[] = [];

  beforeAll(async () => {
    factory = await createCertFactory();
    const root = await factory.root('Daemon Root');
    rootPem = root.certPem;
    intermediate = await factory.intermediate(root, 'Daemon R1');
    leaves = [await factory.leaf(intermediate, [NAME]), await factory.leaf(intermediate, [NAME])];
  });

  afterAll(async () => {
    await factory?.close();
  });

  afterEach(async () => {
    for (const { dir, certSync } of open.splice(0)) {
      await certSync.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  const leaf = (i: number) => leaves[i] as Leaf;

  async function setup(args: string[] = [], publish = true, clock?: { now: Date }) {
    const dir = await mkdtemp(join(tmpdir(), 'wsfleet-daemon-'));
    const inner = createCertStore(createFileStore(join(dir, 'store')));
    if (publish) await inner.publish(certificateVersion(leaf(0), [NAME]), undefined);
    const { store, counts, control } = instrumented(inner);
    const tls = join(dir, 'tls');
    const nginx: FakeNginx = createFakeNginx(tls);
    const { config } = parseConfig(
      certSyncOptions,
      ['--cert', NAME, '--dir', tls, '--renewer', '127.0.0.1:9', '--metrics-port', '0', ...args],
      {},
    );
    const certSync = createCertSync(config, {
      store,
      nginx,
      log: createLogger({ name: 'test', level: 'silent' }),
      anchors: createTrustAnchors([rootPem]),
      random: () => 0,
      ...(clock === undefined ? {} : { now: () => clock.now }),
      settleMs: 50,
      servedCheck: { attempts: 2, delayMs: 5, timeoutMs: 100 },
    });
    open.push({ dir, certSync });
    return { dir, tls, inner, store, counts, control, nginx, certSync };
  }

  async function get(address: AddressInfo, path: string) {
    const res = await fetch(`http://127.0.0.1:${address.port}${path}`);
    return { status: res.status, text: await res.text() };
  }

  describe('pollDelayMs', () => {
    it.each([
      [0, 180_000],
      [0.5, 240_000],
      [1, 300_000],
    ])('waits within 60–100 %% of the interval (random %s → %s ms)', (r, ms) => {
      expect(pollDelayMs(300, () => r)).toBe(ms);
    });
  });

  it('checks only the generation at each poll, and downloads when it changed', async () => {
    const { inner, counts, certSync } = await setup(['--poll-interval', '1']);
    await certSync.start();
    expect(counts.current).toBe(1);
    await waitFor(() => counts.currentGeneration >= 2, 5_000, 'two polls');
    expect(counts.current).toBe(1);

    await inner.publish(certificateVersion(leaf(1), [NAME]), await inner.currentGeneration(NAME));
    await waitFor(
      () => certSync.ledger.installed(NAME)?.info.serial === leaf(1).serial,
      5_000,
      'the new one',
    );
    expect(counts.current).toBe(2);
  });

  it('polls at --first-poll-interval until the first certificate is installed, then at --poll-interval', async () => {
    const { inner, counts, certSync } = await setup(
      ['--poll-interval', '3600', '--first-poll-interval', '1'],
      false,
    );
    await certSync.start();
    expect(certSync.ledger.installed(NAME)).toBeUndefined();
    await waitFor(() => counts.currentGeneration >= 1, 5_000, 'a first poll within about a second');

    await inner.publish(certificateVersion(leaf(0), [NAME]), undefined);
    await waitFor(() => certSync.ledger.installed(NAME) !== undefined, 5_000, 'the first certificate');
    const polls = counts.currentGeneration;
    // With it installed, the next poll is an hour away (random 0 → 60 % of 3600 s).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(counts.currentGeneration).toBe(polls);
  });

  it('is healthy through a store outage while a valid certificate is installed', async () => {
    const { control, certSync } = await setup();
    const { metrics } = await certSync.start();
    control.down = true;
    const report = await certSync.syncOnce();
    expect(report).toMatchObject({ reachedStore: false, ok: false });
    expect(report.certificates[0]).toMatchObject({ result: 'failed', code: 'WSFLEET_STORE_UNAVAILABLE' });
    const health = await get(metrics, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({
      status: 'ok',
      store: { reached: false },
      certificates: [{ name: NAME, installed: { serial: leaf(0).serial, valid: true } }],
    });
    const text = (await get(metrics, '/metrics')).text;
    expect(text).toContain('wsfleet_cert_sync_store_reachable 0');
    expect(text).toContain('wsfleet_cert_sync_store_errors_total{code="WSFLEET_STORE_UNAVAILABLE"} 1');
  });

  it.each([
    ['expired', 1.01],
    ['expiring (less than a sixth of its lifetime left)', 0.9],
  ])(
    'is unhealthy while the installed certificate is %s, although the store answers',
    async (problem, share) => {
      const clock = { now: new Date() };
      const { certSync } = await setup([], true, clock);
      const { metrics } = await certSync.start();
      expect((await get(metrics, '/healthz')).status).toBe(200);
      const installed = certSync.ledger.installed(NAME)?.info;
      if (installed === undefined) throw new Error('nothing installed');
      const lifetime = installed.notAfter.getTime() - installed.notBefore.getTime();
      clock.now = new Date(installed.notBefore.getTime() + lifetime * share);
      expect((await certSync.syncOnce()).reachedStore).toBe(true);
      const health = await get(metrics, '/healthz');
      expect(health.status).toBe(503);
      expect(JSON.parse(health.text)).toMatchObject({
        status: 'unhealthy',
        certificates: [{ name: NAME, problem: problem.split(' ')[0] }],
      });
    },
  );

  it('is unhealthy when the store is unreachable and nothing is installed', async () => {
    const { control, certSync } = await setup([], false);
    control.down = true;
    const { metrics, report } = await certSync.start();
    expect(report.reachedStore).toBe(false);
    const health = await get(metrics, '/healthz');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({
      status: 'unhealthy',
      certificates: [{ installed: null }],
    });
  });

  it('is healthy without a certificate when the store says there is none yet', async () => {
    const { certSync, nginx } = await setup([], false);
    const { metrics, report } = await certSync.start();
    expect(report.certificates[0]).toMatchObject({ result: 'missing' });
    expect((await get(metrics, '/healthz')).status).toBe(200);
    expect(nginx.renders).toEqual([[]]);
  });

  it('exports the served serial and expiry, and records the sync in its state file', async () => {
    const { tls, certSync } = await setup();
    const { metrics } = await certSync.start();
    const text = (await get(metrics, '/metrics')).text;
    expect(text).toContain(
      `wsfleet_cert_sync_served_certificate_info{name="${NAME}",serial="${leaf(0).serial}"} 1`,
    );
    const expiry = Math.floor(leaf(0).notAfter.getTime() / 1000);
    expect(text).toContain(
      `wsfleet_cert_sync_served_certificate_expiration_timestamp_seconds{name="${NAME}"} ${expiry}`,
    );
    expect(text).toMatch(/wsfleet_cert_sync_last_sync_timestamp_seconds \d{10}/);
    const state = await readSyncState(tls);
    expect(state.lastAttempt).toMatchObject({ kind: 'full', reachedStore: true, ok: true });
    expect(state.certificates[NAME]).toMatchObject({
      storeSerial: leaf(0).serial,
      lastResult: 'installed',
      served: { status: 'ok', serial: leaf(0).serial },
    });
    expect(JSON.stringify(state)).not.toContain('PRIVATE KEY');
  });

  it('looks again at a certificate refused as not yet valid once it is, not at the next daily sync', async () => {
    const clock = { now: new Date() };
    const { inner, counts, certSync } = await setup(['--poll-interval', '3600'], false, clock);
    await certSync.start();
    const notBefore = new Date(Math.ceil((Date.now() + 3_600_000) / 1000) * 1000);
    const future = await factory.leaf(intermediate, [NAME], { notBefore });
    // The clock two seconds before the certificate's start: the next check is due about then.
    clock.now = new Date(notBefore.getTime() - 2_000);
    await inner.publish(certificateVersion(future, [NAME]), undefined);
    const first = await certSync.syncOnce();
    expect(first.certificates[0]).toMatchObject({ result: 'refused', reason: 'not_yet_valid' });
    const downloads = counts.current;
    // Time passes; no store change, and the regular poll is an hour away.
    clock.now = new Date(notBefore.getTime() + RECHECK_MARGIN_MS + 1_000);
    await waitFor(
      () => certSync.ledger.installed(NAME)?.info.serial === future.serial,
      10_000,
      'the re-check',
    );
    expect(counts.current).toBe(downloads + 1);
  });

  it('does not download a refused certificate again at every poll', async () => {
    const { inner, counts, certSync } = await setup(['--poll-interval', '1']);
    await certSync.start();
    const other = await factory.leaf(await factory.root('Stranger'), [NAME]);
    await inner.publish(certificateVersion(other, [NAME]), await inner.currentGeneration(NAME));
    await waitFor(
      () => certSync.ledger.lastRefusal(NAME)?.reason === 'untrusted_chain',
      5_000,
      'the refusal',
    );
    const downloads = counts.current;
    const polls = counts.currentGeneration;
    await waitFor(() => counts.currentGeneration >= polls + 2, 5_000, 'two more polls');
    expect(counts.current).toBe(downloads);
    expect(certSync.ledger.installed(NAME)?.info.serial).toBe(leaf(0).serial);
  });
});

describe('cert-sync configuration', () => {
  it.each([
    ['nginx -t -q', ['nginx', '-t', '-q']],
    ['  systemctl   reload nginx.service ', ['systemctl', 'reload', 'nginx.service']],
    [
      '["/usr/sbin/nginx", "-t", "-g", "pid /run/x.pid;"]',
      ['/usr/sbin/nginx', '-t', '-g', 'pid /run/x.pid;'],
    ],
    ['[]', undefined],
    ['["nginx", 1]', undefined],
    ['[not json', undefined],
    ['   ', undefined],
  ])('reads the command %j as %j', (text, argv) => {
    expect(parseArgv(text)).toEqual(argv);
  });

  it('has the documented defaults', () => {
    const { config } = parseConfig(certSyncOptions, ['--cert', 'a.test', '--renewer', '10.0.0.2:80'], {});
    expect(config).toMatchObject({
      dir: '/etc/wsfleet/tls',
      pollInterval: 300,
      firstPollInterval: 10,
      syncCron: '43 4 * * *',
      staging: false,
      nginxTest: ['nginx', '-t', '-q'],
      nginxReload: ['systemctl', 'reload', 'nginx.service'],
      httpPort: 80,
      httpsPort: 443,
      appUpstream: '127.0.0.1:8080',
      verifyHost: '127.0.0.1',
      metricsHost: '127.0.0.1',
      metricsPort: 9103,
    });
  });

  it('reports every problem at once', () => {
    expect(() =>
      parseConfig(
        certSyncOptions,
        ['--poll-interval', '0', '--nginx-test', '[]', '--sync-cron', 'often', '--dir', 'relative'],
        { WSFLEET_APP_UPSTREAM: 'nowhere' },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'WSFLEET_CONFIG_INVALID',
        problems: [
          expect.stringContaining('`--dir`'),
          expect.stringContaining('`--poll-interval`'),
          expect.stringContaining('`--sync-cron`'),
          expect.stringContaining('`--nginx-test`'),
          expect.stringContaining('`WSFLEET_APP_UPSTREAM`'),
          expect.stringContaining('Missing `--renewer`'),
        ],
      }),
    );
  });
});
