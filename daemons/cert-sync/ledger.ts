/**
 * What cert-sync knows about each certificate while it runs: what is installed (and the files it
 * wrote, so a change on disk can be told from its own writes), the last refusal and what nginx was
 * last seen serving. Every change here also updates the matching metric.
 */
import type { CertificateSpec } from '../shared/cert-options.ts';
import type { CertificateInfo } from '../shared/certificate-info.ts';
import type { Logger } from '../shared/logger.ts';
import type { CertSyncMetrics } from './metrics.ts';
import type { NginxCertificate } from './nginx.ts';
import type { ServedCheck } from './served.ts';
import type { Bundle, RefusalReason, Validation } from './validate.ts';

/** Where a bundle came from: the store, or a change made on disk by hand. */
export type Source = 'store' | 'local';

export interface Installed {
  readonly spec: CertificateSpec;
  /** The version folder `live/<name>` points at. */
  readonly version: string;
  /** bundleDigest of the files: what tells cert-sync's own writes from a change by hand. */
  readonly digest: string;
  /** Kept so that `live/<name>` can be restored even if the files behind it were edited. */
  readonly bundle: Bundle;
  readonly info: CertificateInfo;
  readonly source: Source;
}

export type Refused = Extract<Validation, { ok: false }>;

export type ApplyResult =
  | { readonly result: 'installed'; readonly serial: string; readonly served: ServedCheck['status'] }
  | { readonly result: 'current'; readonly serial: string }
  | {
      readonly result: 'refused';
      readonly reason: RefusalReason;
      readonly detail: string;
      readonly serial?: string;
      /** With `not_yet_valid`: when it becomes valid (ISO). */
      readonly validFrom?: string;
    }
  | { readonly result: 'failed'; readonly code: string; readonly message: string; readonly serial?: string };

export interface Refusal {
  readonly at: string;
  readonly reason: RefusalReason;
  readonly detail: string;
  readonly serial?: string;
  readonly source: Source;
}

export interface Served {
  readonly at: string;
  readonly status: ServedCheck['status'];
  readonly serial?: string;
  readonly notAfter?: string;
}

/** nginx serving another serial than the installed one, and the reloads retried since. */
export interface NotServed {
  /** The installed serial nginx does not serve. */
  readonly serial: string;
  /** When it was first seen (ISO). */
  readonly since: string;
  /** Reloads retried so far. */
  readonly attempts: number;
  /** When the last reload (the install's, or a retry) ran (ISO). */
  readonly lastReloadAt: string;
  /** When the next retry may run (ISO); absent once it gave up. */
  readonly nextAt?: string;
  /** Every retry of the schedule ran and nginx still serves another serial. */
  readonly gaveUp: boolean;
}

export interface Ledger {
  readonly certs: readonly CertificateSpec[];
  spec(name: string): CertificateSpec | undefined;
  installed(name: string): Installed | undefined;
  all(): Installed[];
  /** Nginx's view: every installed certificate, in configured order. */
  nginxCerts(): NginxCertificate[];
  adopt(installed: Installed): void;
  forget(name: string): void;
  refuse(name: string, refused: Refused, source: Source): ApplyResult;
  lastRefusal(name: string): Refusal | undefined;
  recordServed(name: string, check: ServedCheck): void;
  lastServed(name: string): Served | undefined;
  notServed(name: string): NotServed | undefined;
  setNotServed(name: string, state: NotServed | undefined): void;
}

export function createLedger(
  certs: readonly CertificateSpec[],
  { log, metrics, now }: { log: Logger; metrics: CertSyncMetrics; now: () => Date },
): Ledger {
  const specs = new Map(certs.map((spec) => [spec.name, spec]));
  const state = new Map<string, Installed>();
  const refusals = new Map<string, Refusal>();
  const served = new Map<string, Served>();
  const notServed = new Map<string, NotServed>();

  return {
    certs,
    spec: (name) => specs.get(name),
    installed: (name) => state.get(name),
    all: () => certs.flatMap((s) => state.get(s.name) ?? []),
    nginxCerts: () =>
      certs.filter((s) => state.has(s.name)).map((s) => ({ name: s.name, domains: s.domains })),
    adopt(installed) {
      state.set(installed.spec.name, installed);
      metrics.installedExpiry.set(
        { name: installed.spec.name },
        Math.floor(installed.info.notAfter.getTime() / 1000),
      );
    },
    forget(name) {
      state.delete(name);
      metrics.installedExpiry.remove({ name });
    },
    refuse(name, refused, source) {
      metrics.refusals.inc({ name, reason: refused.reason });
      const at = now().toISOString();
      const serial = refused.serial === undefined ? {} : { serial: refused.serial };
      const validFrom = refused.validFrom === undefined ? {} : { validFrom: refused.validFrom.toISOString() };
      refusals.set(name, { at, reason: refused.reason, detail: refused.detail, source, ...serial });
      log.error(
        {
          code: 'WSFLEET_CERT_REFUSED',
          name,
          reason: refused.reason,
          detail: refused.detail,
          source,
          ...serial,
        },
        'certificate refused; the last good one stays',
      );
      return { result: 'refused', reason: refused.reason, detail: refused.detail, ...serial, ...validFrom };
    },
    lastRefusal: (name) => refusals.get(name),
    recordServed(name, check) {
      const at = now().toISOString();
      if (check.status === 'unreachable') {
        served.set(name, { ...served.get(name), at, status: check.status });
        return;
      }
      const previous = served.get(name)?.serial;
      const serial = check.served.serial.toLowerCase();
      const notAfter = new Date(check.served.notAfter);
      if (previous !== undefined && previous !== serial)
        metrics.servedInfo.remove({ name, serial: previous });
      metrics.servedInfo.set({ name, serial }, 1);
      metrics.servedMatchesInstalled.set({ name }, check.status === 'ok' ? 1 : 0);
      metrics.servedExpiry.set({ name }, Math.floor(notAfter.getTime() / 1000));
      served.set(name, { at, status: check.status, serial, notAfter: notAfter.toISOString() });
    },
    lastServed: (name) => served.get(name),
    notServed: (name) => notServed.get(name),
    setNotServed(name, next) {
      if (next === undefined) notServed.delete(name);
      else notServed.set(name, next);
    },
  };
}
