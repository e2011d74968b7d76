/**
 * What `/healthz` says: healthy (200) when the last sync attempt reached the store, or when every
 * configured certificate has a valid one installed — a VM that keeps serving good certificates
 * through a store outage is fine. Never healthy while an installed certificate has expired or
 * has less than a sixth of its lifetime left: the renewer renews at a third, so by then renewal
 * has failed for half the margin, and a VM serving that certificate is about to break every
 * client, whether or not the store answers. Nor once nginx serves another certificate than the
 * installed one after every reload retried (`not_served`, apply.ts RELOAD_RETRY); while the
 * retries run, the body says so and the status stays. The body gives the details either way.
 */
import type { Ledger } from './ledger.ts';
import type { SyncReport } from './sync.ts';

export interface Health {
  readonly status: 200 | 503;
  readonly body: Record<string, unknown>;
}

/** Share of its lifetime below which an installed certificate makes the VM unhealthy. */
export const EXPIRING_SHARE = 1 / 6;

export function health(report: SyncReport | undefined, ledger: Ledger, now: Date, store: string): Health {
  const certificates = ledger.certs.map((spec) => {
    const installed = ledger.installed(spec.name);
    const served = ledger.lastServed(spec.name);
    const refusal = ledger.lastRefusal(spec.name);
    const outcome = report?.certificates.find((c) => c.name === spec.name);
    const info = installed?.info;
    const lifetime = info === undefined ? 0 : info.notAfter.getTime() - info.notBefore.getTime();
    const left = info === undefined ? 0 : info.notAfter.getTime() - now.getTime();
    const notServed = ledger.notServed(spec.name);
    const problem =
      info === undefined
        ? null
        : left <= 0
          ? 'expired'
          : left < lifetime * EXPIRING_SHARE
            ? 'expiring'
            : notServed !== undefined
              ? 'not_served'
              : null;
    return {
      name: spec.name,
      domains: spec.domains,
      problem,
      installed:
        installed === undefined
          ? null
          : {
              serial: installed.info.serial,
              notAfter: installed.info.notAfter.toISOString(),
              valid: installed.info.notAfter > now,
              source: installed.source,
            },
      served: served ?? null,
      notServed: notServed ?? null,
      lastResult: outcome?.result ?? null,
      lastRefusal: refusal ?? null,
    };
  });
  const allInstalled = certificates.every((c) => c.installed?.valid === true);
  const expiring = certificates.some((c) => c.problem === 'expired' || c.problem === 'expiring');
  // nginx serving another certificate after every reload retried needs a person.
  const stuck = certificates.some((c) => c.notServed?.gaveUp === true);
  const healthy = (report?.reachedStore === true || allInstalled) && !expiring && !stuck;
  return {
    status: healthy ? 200 : 503,
    body: {
      status: report === undefined ? 'starting' : healthy ? 'ok' : 'unhealthy',
      store: {
        url: store,
        reached: report?.reachedStore ?? null,
        lastAttempt: report?.at ?? null,
        lastAttemptOk: report?.ok ?? null,
      },
      certificates,
    },
  };
}
