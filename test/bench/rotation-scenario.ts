/**
 * A certificate rotation under open WebSockets, done the way cert-sync does it. One app daemon
 * behind a real nginx running the shipped configuration (test/helpers/nginx.ts), certificate A
 * of a test CA served; N TLS WebSocket connections through nginx, spread over client processes,
 * all subscribed to one channel that gets a publication every 50 ms. Then certificate B is
 * installed and nginx goes through render → `nginx -t` → graceful reload while traffic flows,
 * and traffic goes on for a few seconds. Counted: connections closed, offsets each connection
 * missed from just before the rotation to the end, the time until a new handshake presents B
 * (servedCertificate, as cert-sync confirms a rotation), and nginx's worker processes.
 *
 * The peer row does the same with a restart instead: stop (QUIT, then TERM after 5 s, as
 * Debian's nginx.service stops it) and start, which is what a `systemctl restart nginx` does.
 * The test helper starts the new nginx on new ports; the old connections are gone either way.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { servedCertificate } from '../../daemons/cert-sync/nginx.ts';
import {
  createTestCa,
  type NginxInstance,
  type StartNginxOptions,
  serveCertificates,
  startNginx,
  startStub,
} from '../helpers/nginx.ts';
import { ApiPublisher } from './api-publisher.ts';
import { nowUs } from './dialects.ts';
import { RotationClients } from './rotation-clients.ts';
import type { RotationTally } from './rotation-messages.ts';
import { HOST, wsfleetSystem } from './systems.ts';

export type RotationMethod = 'reload' | 'restart';

const CHANNEL = 'rotation';
/** The certificate's name and only domain; clients ask for it by SNI and check it. */
const NAME = 'rotation.wsfleet.test';
/** 20 publications a second: a hole of one publication shows, and the load stays small. */
const PUBLISH_INTERVAL_MS = 50;
/** Traffic before the rotation, so that every connection has received some. */
const BEFORE_ROTATION_MS = 1_000;
/** Debian's nginx.service: `start-stop-daemon --retry QUIT/5`, then systemd's SIGTERM. */
const STOP_GRACE_MS = 5_000;
const PROBE_INTERVAL_MS = 10;
const PROBE_TIMEOUT_MS = 20_000;
/** Bounds the wait for the last publications to reach every open connection. */
const DELIVERY_TIMEOUT_MS = 5_000;
/** Bounds the wait for the old workers to exit once their connections are closed. */
const OLD_WORKERS_TIMEOUT_MS = 10_000;

export interface RotationSettings {
  readonly bundle: string;
  /** The bundled rotation-worker.ts. */
  readonly clientScript: string;
  readonly redisUrl: string;
  readonly clientProcesses: number;
  readonly connections: number;
  /** Traffic after the rotation before everything is counted. */
  readonly afterSeconds: number;
  readonly logDir: string;
}

export interface NginxWorkers {
  readonly total: number;
  /** Old workers that no longer accept and are finishing their connections. */
  readonly shuttingDown: number;
}

export interface RotationResult {
  readonly method: RotationMethod;
  readonly label: string;
  readonly connections: number;
  readonly opened: number;
  readonly failedToOpen: number;
  readonly firstError: string;
  readonly openBefore: number;
  readonly openAfter: number;
  /** Connections the server side closed from just before the rotation to the end of the window. */
  readonly closedDuringRotation: number;
  readonly closeCodes: Readonly<Record<string, number>>;
  /** The app's `wsfleet_app_connections` gauge. */
  readonly appConnectionsBefore: number;
  readonly appConnectionsAfter: number;
  /** Publications of the window: offsets [fromOffset, toOffset]. */
  readonly window: { readonly fromOffset: number; readonly toOffset: number; readonly seconds: number };
  readonly publishIntervalMs: number;
  readonly publishErrors: number;
  readonly firstPublishError: string;
  readonly missed: Pick<RotationTally, 'missed' | 'connectionsMissing' | 'maxMissedPerConnection'>;
  readonly offsetGaps: number;
  readonly outOfOrder: number;
  readonly longestPauseMs: number;
  readonly serialBefore: string;
  readonly serialAfter: string;
  /** Serials the connections still open at the end were served. */
  readonly openBySerial: Readonly<Record<string, number>>;
  /** Reload: the command plus the old workers' closing their listeners. Restart: stop plus start. */
  readonly rotationMs: number;
  /** From the reload (restart) command to the end of the first new handshake that presents B. */
  readonly firstNewSerialMs: number;
  /** Probe handshakes after the command that still got A. */
  readonly oldSerialProbes: number;
  readonly workersBefore: NginxWorkers;
  readonly workersAfter: NginxWorkers;
  /** After the clients closed their connections: until the old workers exited (reload only). */
  readonly oldWorkersExitMs: number | null;
}

async function workersOf(nginx: NginxInstance): Promise<{ pids: number[]; counts: NginxWorkers }> {
  const pids = await nginx.workers();
  // nginx retitles a worker "worker process is shutting down" when it stops accepting.
  const titles = await Promise.all(
    pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
  );
  return {
    pids,
    counts: { total: pids.length, shuttingDown: titles.filter((t) => t.includes('shutting down')).length },
  };
}

async function appConnections(appUrl: string): Promise<number> {
  const res = await fetch(`${appUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const match = /^wsfleet_app_connections (\d+)$/m.exec(await res.text());
  return match === null ? Number.NaN : Number(match[1]);
}

/** New handshakes every few ms until one presents `serial`; bounded. */
async function firstServed(
  port: () => number,
  serial: string,
  startedUs: number,
): Promise<{ ms: number; oldSerialProbes: number }> {
  const deadline = performance.now() + PROBE_TIMEOUT_MS;
  let oldSerialProbes = 0;
  let last = 'no handshake';
  while (performance.now() < deadline) {
    try {
      const served = await servedCertificate({
        host: HOST,
        port: port(),
        servername: NAME,
        timeoutMs: 1_000,
      });
      if (served.serial === serial) return { ms: (nowUs() - startedUs) / 1000, oldSerialProbes };
      oldSerialProbes++;
      last = `serial ${served.serial}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(PROBE_INTERVAL_MS);
  }
  throw new Error(`no handshake presented serial ${serial} within ${PROBE_TIMEOUT_MS} ms (${last})`);
}

export async function measureRotation(
  method: RotationMethod,
  settings: RotationSettings,
): Promise<RotationResult> {
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const apiKey = randomBytes(16).toString('hex');
    const app = await wsfleetSystem(settings.bundle, ['--api-key', apiKey]).startNode(
      `wsfleet-behind-nginx-${method}`,
      settings.redisUrl,
      settings.logDir,
    );
    cleanup.push(() => app.stop());
    const appUrl = `http://${HOST}:${app.port}`;
    const renewer = await startStub();
    cleanup.push(() => renewer.close());
    const ca = await createTestCa();
    cleanup.push(() => ca.close());
    // Outside nginx's prefix, so that it outlives a stopped nginx (the restart row).
    const tlsDir = await mkdtemp(join(tmpdir(), 'wsfleet-bench-tls-'));
    cleanup.push(() => rm(tlsDir, { recursive: true, force: true }));
    const nginxOptions: StartNginxOptions = {
      appUpstream: `${HOST}:${app.port}`,
      renewer: renewer.address,
      tlsDir,
    };
    let nginx = await startNginx(nginxOptions);
    cleanup.push(() => nginx.stop());
    const certA = await ca.issue(tlsDir, NAME, [NAME]);
    await serveCertificates(nginx, [certA]);

    const clients = new RotationClients(
      settings.clientScript,
      settings.clientProcesses,
      settings.logDir,
      `rotation-${method}`,
    );
    cleanup.push(() => clients.stop());
    const target = {
      url: `wss://${HOST}:${nginx.httpsPort}/ws`,
      servername: NAME,
      ca: ca.caPem,
      channel: CHANNEL,
    };
    const opened = await clients.open(target, settings.connections, 120_000);
    if (opened.opened === 0) throw new Error(`no connection through nginx: ${opened.firstError}`);

    const publisher = new ApiPublisher(appUrl, apiKey, CHANNEL, PUBLISH_INTERVAL_MS);
    cleanup.push(() => publisher.stop());
    publisher.start();
    await sleep(BEFORE_ROTATION_MS);

    // Installed under the same name: nginx keeps serving A from memory until it loads the files again.
    const certB = await ca.issue(tlsDir, NAME, [NAME]);
    const workersBefore = await workersOf(nginx);
    const appConnectionsBefore = await appConnections(appUrl);
    const sinceUs = nowUs();
    const fromOffset = publisher.totals.lastOffset + 1;
    const before = await clients.tally(fromOffset, fromOffset - 1, sinceUs);

    // cert-sync's order: render, test, then reload (or, for the peer row, stop and start).
    await nginx.nginx.render([{ name: NAME, domains: [NAME] }]);
    await nginx.nginx.test();
    const startedUs = nowUs();
    const probe = firstServed(() => nginx.httpsPort, certB.serial, startedUs);
    probe.catch(() => undefined); // awaited below; a failed rotation must not leave it unhandled
    if (method === 'reload') {
      await nginx.reload();
    } else {
      await nginx.stop(STOP_GRACE_MS);
      nginx = await startNginx({ ...nginxOptions, certs: [{ name: NAME, domains: [NAME] }] });
    }
    const rotationMs = (nowUs() - startedUs) / 1000;
    const served = await probe;

    await sleep(settings.afterSeconds * 1000);
    const published = await publisher.stop();
    const toOffset = published.lastOffset;
    let after = await clients.tally(fromOffset, toOffset, sinceUs);
    const deliveryDeadline = performance.now() + DELIVERY_TIMEOUT_MS;
    while (after.behind > 0 && performance.now() < deliveryDeadline) {
      await sleep(100);
      after = await clients.tally(fromOffset, toOffset, sinceUs);
    }
    const windowSeconds = (nowUs() - sinceUs) / 1e6;
    const workersAfter = await workersOf(nginx);
    const appConnectionsAfter = await appConnections(appUrl);

    // An old worker exits once its last connection is gone.
    await clients.close();
    let oldWorkersExitMs: number | null = null;
    if (method === 'reload') {
      const closedAt = performance.now();
      while (performance.now() - closedAt < OLD_WORKERS_TIMEOUT_MS) {
        const now = await nginx.workers();
        if (!workersBefore.pids.some((pid) => now.includes(pid))) {
          oldWorkersExitMs = performance.now() - closedAt;
          break;
        }
        await sleep(25);
      }
    }

    return {
      method,
      label: method === 'reload' ? 'graceful reload (cert-sync)' : 'restart (stop + start)',
      connections: settings.connections,
      opened: opened.opened,
      failedToOpen: opened.failed,
      firstError: opened.firstError,
      openBefore: before.open,
      openAfter: after.open,
      closedDuringRotation: after.closedSince,
      closeCodes: after.closeCodes,
      appConnectionsBefore,
      appConnectionsAfter,
      window: { fromOffset, toOffset, seconds: windowSeconds },
      publishIntervalMs: PUBLISH_INTERVAL_MS,
      publishErrors: published.errors,
      firstPublishError: published.firstError,
      missed: {
        missed: after.missed,
        connectionsMissing: after.connectionsMissing,
        maxMissedPerConnection: after.maxMissedPerConnection,
      },
      offsetGaps: after.offsetGaps,
      outOfOrder: after.outOfOrder,
      longestPauseMs: after.longestPauseMs,
      serialBefore: certA.serial,
      serialAfter: certB.serial,
      openBySerial: after.serials,
      rotationMs,
      firstNewSerialMs: served.ms,
      oldSerialProbes: served.oldSerialProbes,
      workersBefore: workersBefore.counts,
      workersAfter: workersAfter.counts,
      oldWorkersExitMs,
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  }
}
