/**
 * Bringing the installed certificates in line with the store. A full sync downloads each
 * certificate's current version; a poll only reads the generation of each `current` pointer (a
 * metadata read) and downloads where it changed. What was downloaded goes through the applier;
 * the report says, per certificate, what happened, and whether the store was reached at all.
 */
import type { Logger } from '../shared/logger.ts';
import type { CertStore } from '../shared/store/cert-store.ts';
import { isStoreError } from '../shared/store/index.ts';
import type { Applier } from './apply.ts';
import type { ApplyResult } from './ledger.ts';
import type { CertSyncMetrics } from './metrics.ts';

export type CertOutcome = {
  readonly name: string;
  readonly storeSerial?: string;
  readonly generation?: string;
} & (
  | ApplyResult
  | { readonly result: 'missing' }
  /** The generation did not change; `good` repeats whether the last download ended well. */
  | { readonly result: 'unchanged'; readonly good: boolean }
);

export interface SyncReport {
  readonly at: string;
  readonly kind: 'full' | 'poll';
  /** Every store request of this attempt succeeded (an object that did not parse still counts). */
  readonly reachedStore: boolean;
  /** Every certificate is installed (and served) or was already current. */
  readonly ok: boolean;
  readonly certificates: readonly CertOutcome[];
}

export interface Syncer {
  /** Downloads and offers every certificate. */
  full(): Promise<SyncReport>;
  /** Downloads only the certificates whose `current` generation changed since the last look. */
  poll(): Promise<SyncReport>;
  /** The store's generation and serial last seen for `name`. */
  seen(name: string): { generation?: string; serial?: string } | undefined;
  /**
   * The earliest time a certificate refused as not yet valid becomes valid (plus a margin): a
   * poll from then downloads it again although its generation did not change.
   */
  nextRecheck(): Date | undefined;
}

/** After a certificate's notBefore, before it is looked at again: clocks are not exact. */
export const RECHECK_MARGIN_MS = 2_000;

const UNREACHED = new Set(['WSFLEET_STORE_UNAVAILABLE', 'WSFLEET_STORE_DENIED']);

function good(outcome: CertOutcome): boolean {
  if (outcome.result === 'installed') return outcome.served === 'ok';
  if (outcome.result === 'unchanged') return outcome.good;
  return outcome.result === 'current';
}

export function createSyncer({
  store,
  applier,
  log,
  metrics,
  now,
}: {
  store: CertStore;
  applier: Applier;
  log: Logger;
  metrics: CertSyncMetrics;
  now: () => Date;
}): Syncer {
  const seen = new Map<string, { generation?: string; serial?: string; good: boolean; recheckAt?: number }>();
  let queue: Promise<unknown> = Promise.resolve();

  function storeFailure(name: string, err: unknown): CertOutcome {
    const code = isStoreError(err) ? err.code : 'WSFLEET_STORE_UNAVAILABLE';
    metrics.storeErrors.inc({ code });
    log.error(
      { err, name, code, store: store.url },
      'could not read the store; the installed certificate stays',
    );
    return { name, result: 'failed', code, message: err instanceof Error ? err.message : String(err) };
  }

  async function download(name: string): Promise<CertOutcome> {
    let current: Awaited<ReturnType<CertStore['current']>>;
    try {
      current = await store.current(name);
    } catch (err) {
      return storeFailure(name, err);
    }
    if (current === undefined) {
      seen.set(name, { good: false });
      log.info({ name, store: store.url }, 'no certificate in the store yet');
      return { name, result: 'missing' };
    }
    const { generation, certificate } = current;
    const { certificatePem, privateKeyPem } = certificate;
    const result = await applier.offer(name, { certificatePem, privateKeyPem }, 'store');
    const outcome: CertOutcome = { name, storeSerial: certificate.serial, generation, ...result };
    // A refused version is not fetched again at every poll (the next full sync looks again); a
    // failed install is retried at the next poll.
    if (result.result !== 'failed') {
      // Not yet valid is the one refusal that time cures: looked at again once it is valid.
      const recheckAt =
        result.result === 'refused' && result.validFrom !== undefined
          ? new Date(result.validFrom).getTime() + RECHECK_MARGIN_MS
          : undefined;
      seen.set(name, {
        generation,
        serial: certificate.serial,
        good: good(outcome),
        ...(recheckAt === undefined ? {} : { recheckAt }),
      });
    }
    return outcome;
  }

  async function pollOne(name: string): Promise<CertOutcome> {
    let generation: string | undefined;
    try {
      generation = await store.currentGeneration(name);
    } catch (err) {
      return storeFailure(name, err);
    }
    const last = seen.get(name);
    const recheck = last?.recheckAt !== undefined && now().getTime() >= last.recheckAt;
    if (last !== undefined && last.generation === generation && !recheck) {
      await applier.checkLive(name);
      if (generation === undefined) return { name, result: 'missing' };
      return { name, result: 'unchanged', good: last.good, storeSerial: last.serial, generation };
    }
    if (recheck)
      log.info({ name, generation }, 'the refused certificate is valid from now; downloading it again');
    else
      log.info({ name, generation, previous: last?.generation }, 'store has a new generation; downloading');
    return download(name);
  }

  function attempt(kind: SyncReport['kind'], one: (name: string) => Promise<CertOutcome>) {
    const run = queue.then(async (): Promise<SyncReport> => {
      const at = now();
      metrics.lastAttempt.set(Math.floor(at.getTime() / 1000));
      const certificates: CertOutcome[] = [];
      for (const spec of applier.ledger.certs) certificates.push(await one(spec.name));
      const reachedStore = certificates.every((c) => c.result !== 'failed' || !UNREACHED.has(c.code));
      const ok = certificates.every(good);
      metrics.storeReachable.set(reachedStore ? 1 : 0);
      if (reachedStore && ok) metrics.lastSync.set(Math.floor(now().getTime() / 1000));
      const report = { at: at.toISOString(), kind, reachedStore, ok, certificates };
      log[ok ? 'debug' : 'warn'](
        { kind, reachedStore, ok, certificates: certificates.map(brief) },
        'sync done',
      );
      return report;
    });
    queue = run.catch(() => undefined);
    return run;
  }

  return {
    full: () => attempt('full', download),
    poll: () => attempt('poll', pollOne),
    seen: (name) => seen.get(name),
    nextRecheck() {
      const times = [...seen.values()].flatMap((s) => (s.recheckAt === undefined ? [] : [s.recheckAt]));
      return times.length === 0 ? undefined : new Date(Math.min(...times));
    },
  };
}

function brief(c: CertOutcome): Record<string, unknown> {
  return {
    name: c.name,
    result: c.result,
    ...('serial' in c ? { serial: c.serial } : {}),
    ...('reason' in c ? { reason: c.reason } : {}),
    ...('code' in c ? { code: c.code } : {}),
    ...('served' in c ? { served: c.served } : {}),
  };
}
