import { lstat, mkdir, mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Applier, createApplier, RELOAD_RETRY } from '../../daemons/cert-sync/apply.ts';
import { health } from '../../daemons/cert-sync/health.ts';
import { listVersions, prepareDir, swapLive } from '../../daemons/cert-sync/install.ts';
import { type CertSyncMetrics, createCertSyncMetrics } from '../../daemons/cert-sync/metrics.ts';
import { createTrustAnchors } from '../../daemons/cert-sync/trust.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { type CertChain, openCertChain } from '../helpers/cert-chain.ts';
import { createFakeNginx, type FakeNginx, type Leaf } from '../helpers/certs.ts';
import { captureLogs, type LogLine } from '../helpers/logs.ts';

const NAME = 'a.test';
const DAY = 86_400_000;

async function counter(metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }) {
  return (await metric.get()).values.map((v) => ({ ...v.labels, value: v.value }));
}

describe('cert-sync install and rollback', () => {
  let chain: CertChain;
  let older: Leaf;
  let dir: string;
  let nginx: FakeNginx;
  let metrics: CertSyncMetrics;
  let logs: LogLine[];
  let applier: Applier;

  beforeAll(async () => {
    chain = await openCertChain('Install', [NAME], 5);
    older = await chain.factory.leaf(chain.intermediate, [NAME], {
      notBefore: new Date(Date.now() - 2 * DAY),
    });
  });

  afterAll(async () => {
    await chain?.close();
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-install-'));
    await prepareDir(dir);
    nginx = createFakeNginx(dir);
    metrics = createCertSyncMetrics();
    const captured = captureLogs('test');
    logs = captured.logs;
    applier = createApplier(
      {
        dir,
        certs: [{ name: NAME, domains: [NAME] }],
        anchors: createTrustAnchors([chain.rootPem]),
        staging: false,
        served: { host: '127.0.0.1', port: 443, attempts: 3, delayMs: 5, timeoutMs: 100 },
      },
      {
        nginx,
        log: captured.log,
        metrics,
        now: () => new Date(),
      },
    );
    await applier.recover();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const leaf = (i: number) => chain.leaves[i] as Leaf;
  const live = () => readlink(join(dir, 'live', NAME));

  describe('#offer', () => {
    it('writes a new version, swaps live/<name> to it, renders, tests and reloads nginx', async () => {
      nginx.calls.length = 0;
      const result = await applier.offer(NAME, leaf(0), 'store');
      expect(result).toEqual({ result: 'installed', serial: leaf(0).serial, served: 'ok' });
      expect(nginx.calls).toEqual(['render', 'test', 'reload']);
      expect(nginx.renders.at(-1)).toEqual([{ name: NAME, domains: [NAME] }]);
      const target = await live();
      expect(target).toMatch(new RegExp(`^\\.\\./versions/${NAME}/${leaf(0).serial}-\\d{8}T\\d{9}Z$`));
      expect((await stat(join(dir, 'live', NAME))).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, 'live', NAME, 'fullchain.pem'))).mode & 0o777).toBe(0o644);
      expect((await stat(join(dir, 'live', NAME, 'privkey.pem'))).mode & 0o777).toBe(0o600);
      expect(await counter(metrics.installs)).toEqual([{ name: NAME, source: 'store', value: 1 }]);
      expect(nginx.served.get(NAME)?.serial).toBe(leaf(0).serial);
    });

    it('changes nothing when offered the installed certificate again', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      nginx.calls.length = 0;
      expect(await applier.offer(NAME, leaf(0), 'store')).toEqual({
        result: 'current',
        serial: leaf(0).serial,
      });
      expect(nginx.calls).toEqual([]);
    });

    it.each([
      // nginx never loaded the refused configuration: the restored files need no reload.
      ['nginx -t fails', 'test', 'WSFLEET_NGINX_TEST_FAILED', ['render', 'test', 'restore']],
      // The restored files are tested again before nginx is reloaded onto them.
      [
        'the reload fails',
        'reload',
        'WSFLEET_NGINX_RELOAD_FAILED',
        ['render', 'test', 'reload', 'restore', 'test', 'reload'],
      ],
    ] as const)('puts the old certificate back when %s', async (_what, stage, code, calls) => {
      await applier.offer(NAME, leaf(0), 'store');
      const before = await live();
      nginx.calls.length = 0;
      if (stage === 'test') nginx.failTests = 1;
      else nginx.failReloads = 1;

      const result = await applier.offer(NAME, leaf(1), 'store');

      expect(result).toMatchObject({ result: 'failed', code, serial: leaf(1).serial });
      expect(nginx.calls).toEqual(calls);
      expect(await live()).toBe(before);
      expect(await listVersions(dir, NAME)).toEqual([before.split('/').at(-1)]);
      expect(applier.ledger.installed(NAME)?.info.serial).toBe(leaf(0).serial);
      expect(nginx.served.get(NAME)?.serial).toBe(leaf(0).serial);
      expect(await counter(metrics.reloadFailures)).toEqual([{ name: NAME, stage, value: 1 }]);
      expect(logs.find((l) => l.msg.includes('rolling back'))).toMatchObject({ level: 'error', stage });
    });

    it('removes live/<name> again when nginx refuses the first certificate', async () => {
      nginx.calls.length = 0;
      nginx.failTests = 1;
      expect(await applier.offer(NAME, leaf(0), 'store')).toMatchObject({ result: 'failed' });
      expect(nginx.calls).toEqual(['render', 'test', 'restore']);
      await expect(lstat(join(dir, 'live', NAME))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(applier.ledger.installed(NAME)).toBeUndefined();
      expect(await readdir(join(dir, 'versions', NAME))).toEqual([]);
    });

    it('reports an error when nginx still serves the old serial after the reload', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      nginx.stale = true;
      const result = await applier.offer(NAME, leaf(1), 'store');
      expect(result).toEqual({ result: 'installed', serial: leaf(1).serial, served: 'old_serial' });
      expect(await counter(metrics.verifyFailures)).toEqual([{ name: NAME, reason: 'old_serial', value: 1 }]);
      expect(logs.find((l) => l.msg === 'renewed but still serving the old one')).toMatchObject({
        level: 'error',
        code: 'WSFLEET_CERT_NOT_SERVED',
        serial: leaf(1).serial,
        servedSerial: leaf(0).serial,
      });
      const info = await counter(metrics.servedInfo);
      expect(info).toEqual([{ name: NAME, serial: leaf(0).serial, value: 1 }]);
    });

    it('reloads nginx again at the next check when it still serves the old serial, and says so', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      nginx.stale = true;
      await applier.offer(NAME, leaf(1), 'store');
      expect(applier.ledger.notServed(NAME)).toMatchObject({ attempts: 0, serial: leaf(1).serial });
      // Whatever kept the reload from taking is gone.
      nginx.stale = false;
      nginx.calls.length = 0;
      const check = await applier.checkServed(NAME);
      expect(check?.status).toBe('ok');
      expect(nginx.calls).toEqual(['test', 'reload']);
      expect(nginx.served.get(NAME)?.serial).toBe(leaf(1).serial);
      expect(await counter(metrics.reloadRetries)).toEqual([{ name: NAME, result: 'served', value: 1 }]);
      expect(applier.ledger.notServed(NAME)).toBeUndefined();
      expect(await counter(metrics.servedMatchesInstalled)).toEqual([{ name: NAME, value: 1 }]);
      expect(
        logs.find((l) => l.msg === 'nginx still served the old certificate; reloading it again'),
      ).toMatchObject({
        level: 'warn',
        name: NAME,
        serial: leaf(1).serial,
        attempt: 1,
      });
    });

    it('keeps the last three versions', async () => {
      for (let i = 0; i < 5; i++) await applier.offer(NAME, leaf(i), 'store');
      const versions = await listVersions(dir, NAME);
      expect(versions.map((v) => v.split('-')[0])).toEqual([leaf(4).serial, leaf(3).serial, leaf(2).serial]);
      expect((await live()).endsWith(versions[0] as string)).toBe(true);
    });

    it('keeps a certificate installed by hand that is newer than the store one', async () => {
      await applier.offer(NAME, leaf(1), 'local');
      nginx.calls.length = 0;
      expect(await applier.offer(NAME, older, 'store')).toEqual({
        result: 'current',
        serial: leaf(1).serial,
      });
      expect(nginx.calls).toEqual([]);
    });

    it('refuses an invalid certificate and keeps the last good one', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      const before = await live();
      nginx.calls.length = 0;
      const result = await applier.offer(NAME, chain.expired, 'store');
      expect(result).toMatchObject({ result: 'refused', reason: 'expired', serial: chain.expired.serial });
      expect(nginx.calls).toEqual([]);
      expect(await live()).toBe(before);
      expect(await counter(metrics.refusals)).toEqual([{ name: NAME, reason: 'expired', value: 1 }]);
      expect(logs.find((l) => l.code === 'WSFLEET_CERT_REFUSED')).toMatchObject({
        level: 'error',
        name: NAME,
        reason: 'expired',
        serial: chain.expired.serial,
      });
      expect(applier.ledger.lastRefusal(NAME)).toMatchObject({ reason: 'expired', source: 'store' });
    });
  });

  describe('#recover', () => {
    function fresh(): Applier {
      return createApplier(
        {
          dir,
          certs: [{ name: NAME, domains: [NAME] }],
          anchors: createTrustAnchors([chain.rootPem]),
          staging: false,
          served: { host: '127.0.0.1', port: 443, attempts: 1, delayMs: 1, timeoutMs: 100 },
        },
        {
          nginx,
          log: createLogger({ name: 'test', level: 'silent' }),
          metrics: createCertSyncMetrics(),
          now: () => new Date(),
        },
      );
    }

    it('adopts the installed certificate without reloading nginx', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      nginx.calls.length = 0;
      const again = fresh();
      await again.recover();
      expect(again.ledger.installed(NAME)?.info.serial).toBe(leaf(0).serial);
      expect(nginx.calls).toEqual(['render']);
    });

    it('keeps a valid folder left at live/<name> as a version of its own', async () => {
      await mkdir(join(dir, 'live', NAME));
      await writeFile(join(dir, 'live', NAME, 'fullchain.pem'), leaf(2).certificatePem);
      await writeFile(join(dir, 'live', NAME, 'privkey.pem'), leaf(2).privateKeyPem);
      nginx.calls.length = 0;
      const again = fresh();
      await again.recover();
      expect(again.ledger.installed(NAME)).toMatchObject({
        info: { serial: leaf(2).serial },
        source: 'local',
      });
      expect(await live()).toMatch(new RegExp(`^\\.\\./versions/${NAME}/${leaf(2).serial}-`));
      expect(await readdir(join(dir, 'displaced'))).toHaveLength(1);
      expect(nginx.calls).toEqual(['render', 'test', 'reload']);
    });

    it('goes back to the newest valid version when live/<name> is broken', async () => {
      await applier.offer(NAME, leaf(0), 'store');
      await applier.offer(NAME, leaf(1), 'store');
      const [newest] = await listVersions(dir, NAME);
      // live/<name> now points at nothing.
      await swapLive(dir, NAME, 'ffff-20000101T000000000Z', new Date());
      nginx.calls.length = 0;
      const again = fresh();
      await again.recover();
      expect(await live()).toBe(`../versions/${NAME}/${newest}`);
      expect(again.ledger.installed(NAME)?.info.serial).toBe(leaf(1).serial);
      expect(nginx.calls).toEqual(['render', 'test', 'reload']);
    });
  });
});

describe('cert-sync reload retries (nginx serving another serial than installed)', () => {
  let chain: CertChain;
  let dir: string;

  beforeAll(async () => {
    chain = await openCertChain('Retry', [NAME], 2);
  });

  afterAll(async () => {
    await chain?.close();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function setup() {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-retry-'));
    await prepareDir(dir);
    const nginx = createFakeNginx(dir);
    const metrics = createCertSyncMetrics();
    const clock = { now: new Date() };
    const applier = createApplier(
      {
        dir,
        certs: [{ name: NAME, domains: [NAME] }],
        anchors: createTrustAnchors([chain.rootPem]),
        staging: false,
        served: { host: '127.0.0.1', port: 443, attempts: 1, delayMs: 1, timeoutMs: 100 },
      },
      { nginx, log: captureLogs('test').log, metrics, now: () => clock.now },
    );
    await applier.recover();
    await applier.offer(NAME, chain.leaves[0] as Leaf, 'store');
    nginx.stale = true;
    await applier.offer(NAME, chain.leaves[1] as Leaf, 'store');
    return { nginx, metrics, clock, applier };
  }

  it('reloads at most once per step of its schedule, then gives up until the next install', async () => {
    const { nginx, metrics, clock, applier } = await setup();
    const reloads = () => nginx.calls.filter((c) => c === 'reload').length;
    const start = clock.now.getTime();
    let at = start;
    for (const [i, delay] of RELOAD_RETRY.delaysMs.entries()) {
      // Not before its time: a check a moment earlier reloads nothing.
      if (delay > 0) {
        clock.now = new Date(at + delay - 1);
        nginx.calls.length = 0;
        await applier.checkServed(NAME);
        expect(reloads(), `before retry ${i + 1}`).toBe(0);
      }
      at += delay;
      clock.now = new Date(at);
      nginx.calls.length = 0;
      await applier.checkServed(NAME);
      expect(nginx.calls, `retry ${i + 1}`).toEqual(['test', 'reload']);
    }
    expect(applier.ledger.notServed(NAME)).toMatchObject({
      attempts: RELOAD_RETRY.delaysMs.length,
      gaveUp: true,
    });
    clock.now = new Date(at + 365 * DAY);
    nginx.calls.length = 0;
    await applier.checkServed(NAME);
    expect(reloads()).toBe(0);
    expect(await counter(metrics.reloadRetries)).toEqual([
      { name: NAME, result: 'not_served', value: RELOAD_RETRY.delaysMs.length },
    ]);
    expect(await counter(metrics.servedMatchesInstalled)).toEqual([{ name: NAME, value: 0 }]);
  });

  it('is unhealthy once it gave up, and says why in /healthz before that too', async () => {
    const { clock, applier } = await setup();
    const report = {
      at: clock.now.toISOString(),
      kind: 'poll' as const,
      reachedStore: true,
      ok: true,
      certificates: [],
    };
    const before = health(report, applier.ledger, clock.now, 'file:///store');
    expect(before.status).toBe(200);
    expect(before.body.certificates).toMatchObject([
      { name: NAME, problem: 'not_served', notServed: { attempts: 0, gaveUp: false } },
    ]);
    let at = clock.now.getTime();
    for (const delay of RELOAD_RETRY.delaysMs) {
      at += delay;
      clock.now = new Date(at);
      await applier.checkServed(NAME);
    }
    const after = health(report, applier.ledger, clock.now, 'file:///store');
    expect(after.status).toBe(503);
    expect(after.body.certificates).toMatchObject([
      { name: NAME, problem: 'not_served', notServed: { gaveUp: true } },
    ]);
  });

  it('starts over when a new certificate is installed', async () => {
    const { nginx, clock, applier } = await setup();
    let at = clock.now.getTime();
    for (const delay of RELOAD_RETRY.delaysMs) {
      at += delay;
      clock.now = new Date(at);
      await applier.checkServed(NAME);
    }
    nginx.stale = false;
    const third = await chain.factory.leaf(chain.intermediate, [NAME]);
    expect(await applier.offer(NAME, third, 'store')).toMatchObject({ served: 'ok' });
    expect(applier.ledger.notServed(NAME)).toBeUndefined();
  });
});
