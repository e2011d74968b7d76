/** `wsfleet cert-sync run`: reads flags and env, wires signals, keeps certificates in sync until stopped. */
import type { Command } from '../shared/command.ts';
import { createNotifier } from '../shared/notify.ts';
import { installShutdown } from '../shared/shutdown.ts';
import { wireCertSync } from './wire.ts';

/**
 * An install in flight (nginx test and reload, the served check, a rollback) gets this long on
 * SIGTERM; below the unit's TimeoutStopSec (45 s).
 */
export const SHUTDOWN_DEADLINE_MS = 30_000;

export const run: Command = async (argv, env) => {
  const wired = await wireCertSync(
    'wsfleet cert-sync run [flags]',
    'Install the certificates from the store for nginx, and keep them current. SIGHUP syncs now.',
    argv,
    env,
  );
  if (wired === undefined) return 0;
  const { config, log, certSync } = wired;
  const notifier = createNotifier({ log, env });
  installShutdown({
    log,
    notifier,
    deadlineMs: SHUTDOWN_DEADLINE_MS,
    close: () => certSync.close(),
    reload: async () => {
      log.info('SIGHUP: syncing now');
      await certSync.syncOnce();
    },
  });
  const { metrics, report } = await certSync.start();
  log.info(
    {
      metrics: `${metrics.address}:${metrics.port}`,
      store: config.store,
      dir: config.dir,
      certificates: config.cert.map((c) => c.domains),
      reachedStore: report.reachedStore,
      ok: report.ok,
    },
    'cert-sync running',
  );
  // Ready even without a certificate: nginx then serves HTTP only, which the first issuance needs.
  const installed = certSync.ledger.all().length;
  await notifier.ready(`${installed}/${config.cert.length} certificate(s) installed`);
  return undefined;
};
