/**
 * cert-sync as it runs: the real entry point spawned with flags, a real certificate store (a
 * folder, or GCS through its test double), and a real nginx started from the app image's
 * configuration, which cert-sync renders, tests and reloads.
 */
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertStore,
  createCertStore,
  createFileStore,
  createGcsStore,
} from '../../daemons/shared/store/index.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';
import { type DaemonProcess, spawnCli } from '../helpers/app.ts';
import { type Authority, type CertFactory, certificateVersion, createCertFactory } from '../helpers/certs.ts';
import { freePort } from '../helpers/net.ts';
import { type NginxInstance, type StubServer, startNginx, startStub } from '../helpers/nginx.ts';
import { type NotifySocket, startNotifySocket } from '../helpers/notify-socket.ts';
import { waitFor } from '../helpers/wait.ts';

const NAME = 'sync.test';
const DOMAINS = [NAME, 'www.sync.test'];

describe('wsfleet cert-sync (the real entry point, a real nginx)', () => {
  let factory: CertFactory;
  let ca: Authority;
  let work: string;
  let rootsFile: string;
  let app: StubServer;
  let renewer: StubServer;
  let n = 0;
  const processes: DaemonProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    factory = await createCertFactory();
    const root = await factory.root('Sync Test Root X1');
    ca = await factory.intermediate(root, 'Sync Test R1');
    work = await mkdtemp(join(tmpdir(), 'wsfleet-cert-sync-'));
    rootsFile = join(work, 'roots.pem');
    await writeFile(rootsFile, root.certPem);
    app = await startStub();
    renewer = await startStub();
  });

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await app?.close();
    await renewer?.close();
    await factory?.close();
    await rm(work, { recursive: true, force: true });
  });

  async function leaf() {
    const issued = await factory.leaf(ca, DOMAINS);
    return { issued, version: certificateVersion(issued, DOMAINS) };
  }

  /** A fresh nginx (HTTP only) and the cert-sync flags that drive it. */
  async function setup(storeUrl: string, extra: string[] = []) {
    const id = n++;
    const tls = join(work, `tls-${id}`);
    const nginx: NginxInstance = await startNginx({
      appUpstream: app.address,
      renewer: renewer.address,
      tlsDir: tls,
    });
    cleanups.push(() => nginx.stop());
    const metricsPort = await freePort();
    const prefix = ['-p', nginx.prefix, '-c', nginx.confFile];
    const args = [
      '--cert',
      DOMAINS.join(','),
      '--store',
      storeUrl,
      '--dir',
      tls,
      '--extra-roots',
      rootsFile,
      '--nginx-conf-dir',
      join(nginx.prefix, 'conf', 'conf.d'),
      '--nginx-test',
      JSON.stringify(['nginx', '-t', '-q', ...prefix, '-g', `pid ${join(nginx.prefix, 'nginx.pid')};`]),
      // What `nginx -s reload` does: SIGHUP to the master.
      '--nginx-reload',
      JSON.stringify(['kill', '-HUP', String(nginx.master.pid)]),
      '--nginx-listen',
      '127.0.0.1',
      '--nginx-access-log',
      nginx.accessLog,
      '--http-port',
      String(nginx.httpPort),
      '--https-port',
      String(nginx.httpsPort),
      '--app-upstream',
      app.address,
      '--renewer',
      renewer.address,
      '--metrics-port',
      String(metricsPort),
      ...extra,
    ];
    const served = async () =>
      (
        await nginx.nginx.servedCertificate({
          host: '127.0.0.1',
          port: nginx.httpsPort,
          servername: NAME,
          timeoutMs: 2_000,
        })
      ).serial;
    return { tls, nginx, args, metricsPort, served, httpsPort: nginx.httpsPort };
  }

  async function fileStore(): Promise<{ url: string; store: CertStore; root: string }> {
    const root = join(work, `store-${n++}`);
    return { url: `file://${root}`, store: createCertStore(createFileStore(root)), root };
  }

  async function cli(args: string[], env: Record<string, string> = {}) {
    const p = spawnCli(args, env);
    processes.push(p);
    const { code } = await p.exited;
    return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('') };
  }

  it('installs the store certificate, switches nginx to TLS, and follows a renewal within a poll interval', async () => {
    const { url, store } = await fileStore();
    const first = await leaf();
    await store.publish(first.version, undefined);
    const { args, metricsPort, served, tls, httpsPort } = await setup(url, ['--poll-interval', '1']);
    const socket: NotifySocket = await startNotifySocket();
    cleanups.push(() => socket.close());

    const daemon = spawnCli(['cert-sync', 'run', ...args], { NOTIFY_SOCKET: socket.path });
    processes.push(daemon);
    await waitFor(() => socket.messages.some((m) => m.includes('READY=1')), 20_000, 'READY=1');
    expect(await served()).toBe(first.issued.serial);
    const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(health.status).toBe(200);

    const second = await leaf();
    await store.publish(second.version, await store.currentGeneration(NAME));
    await waitFor(
      async () => (await served()) === second.issued.serial,
      10_000,
      'nginx to serve the renewal',
    );
    await waitFor(
      () => daemon.logs().filter((l) => l.msg === 'certificate installed and nginx reloaded').length === 2,
      5_000,
      'the install log line',
    );
    expect(daemon.logs().some((l) => l.code === 'WSFLEET_CERT_NOT_SERVED')).toBe(false);
    expect(await readlink(join(tls, 'live', NAME))).toMatch(new RegExp(`/${second.issued.serial}-`));
    // The served check runs after the install line, while old workers drain.
    const info = `wsfleet_cert_sync_served_certificate_info{name="${NAME}",serial="${second.issued.serial}"} 1`;
    await waitFor(
      async () => (await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).includes(info),
      10_000,
      'the served serial in the metrics',
    );

    const status = await cli([
      'cert-sync',
      'status',
      '--json',
      '--dir',
      tls,
      '--store',
      url,
      '--cert',
      NAME,
      '--https-port',
      String(httpsPort),
    ]);
    expect(status.code).toBe(0);
    const [entry] = JSON.parse(status.stdout) as Record<string, { serial?: string } | string | null>[];
    expect(entry).toMatchObject({
      name: NAME,
      installed: { serial: second.issued.serial, names: DOMAINS },
      store: { serial: second.issued.serial },
      served: { serial: second.issued.serial },
      lastResult: 'installed',
    });
    expect(status.stdout).not.toContain('PRIVATE KEY');

    expect((await daemon.stop()).code).toBe(0);
    expect(daemon.logs().at(-1)).toMatchObject({ msg: 'stopped', exitCode: 0 });
    expect(daemon.stdout.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('syncs at once on SIGHUP', async () => {
    const { url, store } = await fileStore();
    const first = await leaf();
    await store.publish(first.version, undefined);
    const { args, served } = await setup(url, ['--poll-interval', '3600']);
    const daemon = spawnCli(['cert-sync', 'run', ...args]);
    processes.push(daemon);
    await waitFor(
      async () => (await served().catch(() => '')) === first.issued.serial,
      20_000,
      'the first one',
    );

    const second = await leaf();
    await store.publish(second.version, await store.currentGeneration(NAME));
    daemon.child.kill('SIGHUP');
    await waitFor(async () => (await served()) === second.issued.serial, 10_000, 'the SIGHUP sync');
    expect(daemon.logs().some((l) => l.msg === 'SIGHUP: syncing now')).toBe(true);
  });

  it('reloads nginx again when it still serves the old serial after a reload', async () => {
    const { url, store } = await fileStore();
    const first = await leaf();
    await store.publish(first.version, undefined);
    const { args, served, nginx, metricsPort } = await setup(url, ['--poll-interval', '1']);
    // A reload that reports success but does not take, as many times as `skips` says (a master
    // that missed the signal, a reload unit that did nothing): nginx keeps serving what it had.
    const skips = join(work, `skip-reloads-${n}`);
    cleanups.push(() => rm(skips, { force: true }));
    const reload = args.indexOf('--nginx-reload') + 1;
    args[reload] = JSON.stringify([
      'sh',
      '-c',
      `n=$(cat '${skips}' 2>/dev/null || echo 0); if [ "$n" -gt 0 ]; then echo $((n - 1)) > '${skips}'; else kill -HUP ${String(nginx.master.pid)}; fi`,
    ]);
    const daemon = spawnCli(['cert-sync', 'run', ...args]);
    processes.push(daemon);
    await waitFor(
      async () => (await served().catch(() => '')) === first.issued.serial,
      20_000,
      'the first one',
    );

    // The install's reload does not take; the one retried at the next poll does.
    await writeFile(skips, '1');
    const second = await leaf();
    await store.publish(second.version, await store.currentGeneration(NAME));
    await waitFor(
      () =>
        daemon.logs().some((l) => l.code === 'WSFLEET_CERT_NOT_SERVED' && l.serial === second.issued.serial),
      15_000,
      'the served check to notice',
    );
    await waitFor(
      async () => (await served()) === second.issued.serial,
      15_000,
      'nginx to serve the new one after a reload retried',
    );
    expect(
      daemon.logs().filter((l) => l.msg === 'nginx still served the old certificate; reloading it again'),
    ).toHaveLength(1);
    await waitFor(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return (
          text.includes(`wsfleet_cert_sync_served_matches_installed{name="${NAME}"} 1`) &&
          text.includes(`wsfleet_cert_sync_reload_retries_total{name="${NAME}",result="served"} 1`)
        );
      },
      10_000,
      'the metrics to say nginx serves what is installed, after one retry',
    );
    const health = (await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()) as {
      certificates: { problem: string | null; notServed: unknown }[];
    };
    expect(health.certificates[0]).toMatchObject({ problem: null, notServed: null });
  });

  it('installs a corrupt certificate nowhere and keeps serving the last good one', async () => {
    const { url, store, root } = await fileStore();
    const good = await leaf();
    await store.publish(good.version, undefined);
    const { args, served, tls } = await setup(url);
    const ok = await cli(['cert-sync', 'sync', ...args]);
    expect(ok.stdout).toContain(`${NAME}: installed serial ${good.issued.serial}; nginx serves it`);
    expect(ok.code).toBe(0);
    const versions = await readdir(join(tls, 'versions', NAME));

    // A version whose chain is not a certificate (the store's schema only sees a PEM header).
    const bad = await leaf();
    const garbage = '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    await store.publish({ ...bad.version, certificatePem: garbage }, await store.currentGeneration(NAME));
    const refused = await cli(['cert-sync', 'sync', ...args]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`${NAME}: refused (parse`);
    expect(await served()).toBe(good.issued.serial);
    expect(await readdir(join(tls, 'versions', NAME))).toEqual(versions);

    // An object that is not what wsfleet writes at all.
    await createFileStore(root).put(`certs/${NAME}/current`, Buffer.from('{"format":"something else"}'));
    const corrupt = await cli(['cert-sync', 'sync', ...args]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stdout).toContain('WSFLEET_STORE_CORRUPT');
    expect(await served()).toBe(good.issued.serial);
    expect(await readdir(join(tls, 'versions', NAME))).toEqual(versions);
  });

  it('exits 78 on invalid flags', async () => {
    const result = await cli(['cert-sync', 'sync', '--cert', NAME, '--poll-interval', 'soon']);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('`--poll-interval`');
    expect(result.stderr).toContain('Missing `--renewer`');
  });

  describe('with a GCS store that goes down', () => {
    let gcs: GcsDouble;

    beforeAll(async () => {
      gcs = await startGcsDouble();
    });

    afterAll(async () => {
      await gcs?.stop();
    });

    it('keeps serving the last good certificate, and `sync` exits 1', async () => {
      const store = createCertStore(
        createGcsStore({ bucket: 'wsfleet-test', prefix: 'outage', apiEndpoint: gcs.apiEndpoint }),
      );
      const good = await leaf();
      await store.publish(good.version, undefined);
      const { args, served, tls } = await setup('gs://wsfleet-test/outage', [
        '--gcs-endpoint',
        gcs.apiEndpoint,
      ]);
      const ok = await cli(['cert-sync', 'sync', ...args]);
      expect(ok.code).toBe(0);
      const link = await readlink(join(tls, 'live', NAME));

      await gcs.fail({ kind: 'down' });
      try {
        const started = Date.now();
        const down = await cli(['cert-sync', 'sync', ...args]);
        expect(down.code).toBe(1);
        expect(down.stdout).toContain('WSFLEET_STORE_UNAVAILABLE');
        expect(down.stdout).toContain('could not be reached');
        expect(Date.now() - started).toBeLessThan(25_000);
      } finally {
        await gcs.fail({ kind: 'none' });
      }
      expect(await served()).toBe(good.issued.serial);
      expect(await readlink(join(tls, 'live', NAME))).toBe(link);
    });
  });
});
