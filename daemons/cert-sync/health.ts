/**
 * What `/healthz` says: healthy (200) when the last sync attempt reached the store, or when every
 * configured certificate has a valid one installed — a VM that keeps serving good certificates
 * through a store outage is fine. The body gives the details either way.
 */
import type { Ledger } from './ledger.ts';
import type { SyncReport } from './sync.ts';

export interface Health {
  readonly status: 200 | 503;
  readonly body: Record<string, unknown>;
}

export function health(report: SyncReport | undefined, ledger: Ledger, now: Date, store: string): Health {
  const certificates = ledger.certs.map((spec) => {
    const installed = ledger.installed(spec.name);
    const served = ledger.lastServed(spec.name);
    const refusal = ledger.lastRefusal(spec.name);
    const outcome = report?.certificates.find((c) => c.name === spec.name);
    return {
      name: spec.name,
      domains: spec.domains,
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
      lastResult: outcome?.result ?? null,
      lastRefusal: refusal ?? null,
    };
  });
  const allInstalled = certificates.every((c) => c.installed?.valid === true);
  const healthy = report?.reachedStore === true || allInstalled;
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
