/**
 * The cert-sync daemon, built apart from running it: `createCertSync(config, deps)` returns
 * `{ start(), close(), syncOnce() }`. It syncs at start, polls each certificate's generation in the
 * store every `--poll-interval` (jittered), runs a full sync on `--sync-cron`, applies or reverts
 * changes made by hand under `<dir>/live/`, and serves /metrics and /healthz.
 */

import type { AddressInfo } from 'node:net';
import { createAdminServer } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import { type CronJob, scheduleCron } from '../shared/schedule.ts';
import type { CertStore } from '../shared/store/cert-store.ts';
import { type Applier, createApplier } from './apply.ts';
import type { CertSyncConfig } from './config.ts';
import { health } from './health.ts';
import { prepareDir } from './install.ts';
import type { Ledger } from './ledger.ts';
import { type CertSyncMetrics, createCertSyncMetrics } from './metrics.ts';
import type { Nginx } from './nginx.ts';
import type { ServedCheckOptions } from './served.ts';
import { nextState, readSyncState, type SyncState, writeSyncState } from './state-file.ts';
import { createSyncer, type SyncReport } from './sync.ts';
import type { TrustAnchors } from './trust.ts';
import { createLiveWatcher, type LiveWatcher } from './watcher.ts';

/** The shortest wait for a re-check of a not-yet-valid certificate, however near its start. */
const MIN_RECHECK_DELAY_MS = 1_000;

/** Up to an hour, so a fleet's daily full syncs do not all hit the store in the same minute. */
const FULL_SYNC_MAX_DELAY_MS = 3_600_000;

/**
 * The pause before the next poll: uniform in [0.6, 1.0] × the interval, i.e. ±20 % of the interval
 * around 0.8 × it. Polls of a fleet spread out, and no gap exceeds one interval, so a new
 * certificate reaches every VM within `--poll-interval`.
 */
export function pollDelayMs(intervalSeconds: number, random: () => number = Math.random): number {
  return Math.round(intervalSeconds * 1000 * (0.6 + 0.4 * random()));
}

export type CertSyncSettings = Pick<
  CertSyncConfig,
  | 'cert'
  | 'dir'
  | 'pollInterval'
  | 'firstPollInterval'
  | 'syncCron'
  | 'staging'
  | 'verifyHost'
  | 'httpsPort'
  | 'metricsHost'
  | 'metricsPort'
>;

export interface CertSyncDeps {
  readonly store: CertStore;
  readonly nginx: Nginx;
  readonly log: Logger;
  /** System roots plus --extra-roots (trust.ts). */
  readonly anchors: TrustAnchors;
  readonly now?: () => Date;
  readonly random?: () => number;
  /** The served-serial check after a reload; default 5 handshakes 1 s apart, each within 3 s. */
  readonly servedCheck?: Partial<Pick<ServedCheckOptions, 'attempts' | 'delayMs' | 'timeoutMs'>>;
  /** Quiet time before a change under live/ is judged; default 2 s. */
  readonly settleMs?: number;
}

export interface CertSync {
  /** Adopts what is installed, syncs once, then listens, polls, watches. Resolves after the first sync. */
  start(): Promise<{ metrics: AddressInfo; report: SyncReport }>;
  /** A full sync now (also what SIGHUP and `cert-sync sync` do). */
  syncOnce(): Promise<SyncReport>;
  close(): Promise<void>;
  readonly metrics: CertSyncMetrics;
  readonly ledger: Ledger;
}

export function createCertSync(config: CertSyncSettings, deps: CertSyncDeps): CertSync {
  const { store, log } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const metrics = createCertSyncMetrics();
  const applier: Applier = createApplier(
    {
      dir: config.dir,
      certs: config.cert,
      anchors: deps.anchors,
      staging: config.staging,
      served: {
        host: config.verifyHost,
        port: config.httpsPort,
        attempts: deps.servedCheck?.attempts ?? 5,
        delayMs: deps.servedCheck?.delayMs ?? 1_000,
        timeoutMs: deps.servedCheck?.timeoutMs ?? 3_000,
      },
    },
    { nginx: deps.nginx, log, metrics, now },
  );
  const syncer = createSyncer({ store, applier, log, metrics, now });
  let report: SyncReport | undefined;
  let state: SyncState | undefined;
  let prepared: Promise<void> | undefined;
  let persisting: Promise<void> = Promise.resolve();
  let inFlight: Promise<unknown> = Promise.resolve();
  let pollTimer: NodeJS.Timeout | undefined;
  /** When the pending poll runs (Date.now() ms); undefined while none is pending. */
  let pollDueAt: number | undefined;
  let cron: CronJob | undefined;
  let watcher: LiveWatcher | undefined;
  const admin = createAdminServer(metrics.registry, () => health(report, applier.ledger, now(), store.url));
  let closing: Promise<void> | undefined;

  function prepare(): Promise<void> {
    prepared ??= (async () => {
      await prepareDir(config.dir);
      state = await readSyncState(config.dir);
      await applier.recover();
    })();
    return prepared;
  }

  /** Writes the state file after `next` (or after a change the ledger alone knows). */
  function persist(next?: SyncReport): Promise<void> {
    if (next !== undefined) report = next;
    persisting = persisting.then(async () => {
      state = nextState(state ?? (await readSyncState(config.dir)), next, applier.ledger);
      await writeSyncState(config.dir, state).catch((err: unknown) =>
        log.warn({ err }, 'could not write the state file'),
      );
    });
    return persisting;
  }

  /** Remembers `job`, so that `close()` waits for the one in flight. */
  function track<T>(job: Promise<T>): Promise<T> {
    inFlight = Promise.allSettled([inFlight, job]);
    return job;
  }

  async function syncOnce(): Promise<SyncReport> {
    await prepare();
    const next = await track(syncer.full());
    await persist(next);
    pollSoonerForRecheck();
    return next;
  }

  async function poll(): Promise<void> {
    const next = await track(syncer.poll());
    for (const c of next.certificates)
      if (c.result === 'unchanged' || c.result === 'current') await track(applier.checkServed(c.name));
    await persist(next);
  }

  /** The wait until a certificate refused as not yet valid is valid, if that comes first. */
  function recheckDelayMs(): number | undefined {
    const at = syncer.nextRecheck();
    return at === undefined ? undefined : Math.max(MIN_RECHECK_DELAY_MS, at.getTime() - now().getTime());
  }

  /** Runs the next poll in `delayMs` (replacing the one pending), then schedules the one after. */
  function arm(delayMs: number): void {
    clearTimeout(pollTimer);
    pollDueAt = Date.now() + delayMs;
    pollTimer = setTimeout(() => {
      pollDueAt = undefined;
      poll()
        .catch((err: unknown) => log.error({ err }, 'poll failed'))
        .finally(schedulePoll);
    }, delayMs);
  }

  function schedulePoll(): void {
    if (closing !== undefined) return;
    // A VM without its certificate serves nothing over TLS: until every certificate is in
    // place, look again sooner, so that a first boot takes seconds rather than a poll interval.
    const waiting = applier.ledger.certs.some((c) => applier.ledger.installed(c.name) === undefined);
    const interval = waiting ? Math.min(config.firstPollInterval, config.pollInterval) : config.pollInterval;
    const delayMs = Math.min(pollDelayMs(interval, random), recheckDelayMs() ?? Number.POSITIVE_INFINITY);
    arm(delayMs);
    log.debug({ delayMs }, 'next poll');
  }

  /** After a sync outside the poll loop: poll sooner when a refused certificate is valid sooner. */
  function pollSoonerForRecheck(): void {
    const delayMs = recheckDelayMs();
    if (closing !== undefined || pollDueAt === undefined || delayMs === undefined) return;
    if (Date.now() + delayMs >= pollDueAt) return;
    arm(delayMs);
    log.debug({ delayMs }, 'next poll moved up: a refused certificate becomes valid then');
  }

  function onLiveChange(name: string): void {
    if (closing !== undefined) return;
    log.debug({ name }, 'files changed under live/ or versions/');
    track(applier.checkLive(name))
      .then((result) => (result === undefined ? undefined : persist()))
      .catch((err: unknown) => log.error({ err, name }, 'could not handle a change under live/'));
  }

  return {
    metrics,
    ledger: applier.ledger,
    syncOnce,
    async start() {
      const address = await admin.start(config.metricsPort, config.metricsHost);
      const first = await syncOnce();
      // Stopped during the first sync (SIGTERM while the store was slow): start nothing more.
      if (closing !== undefined) return { metrics: address, report: first };
      watcher = createLiveWatcher({
        dir: config.dir,
        settleMs: deps.settleMs ?? 2_000,
        log,
        onChange: onLiveChange,
      });
      await watcher.start();
      cron = scheduleCron(config.syncCron, async () => void (await syncOnce()), {
        name: 'full sync',
        log,
        maxRandomDelayMs: FULL_SYNC_MAX_DELAY_MS,
      });
      schedulePoll();
      return { metrics: address, report: first };
    },
    close() {
      closing ??= (async () => {
        // Stop new work first, then let the sync or install in flight finish (it would otherwise
        // leave a rollback half done), then the metrics listener.
        clearTimeout(pollTimer);
        await cron?.stop();
        await watcher?.close();
        await inFlight;
        await persisting;
        await admin.close();
        log.info('cert-sync closed');
      })();
      return closing;
    },
  };
}
