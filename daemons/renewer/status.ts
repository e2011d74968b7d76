/**
 * What the store says about each certificate: names, serial, validity, next renewal, last
 * error. Read straight from the store, so `wsfleet renewer status` works with or without a
 * running daemon.
 */
import type { CertStore } from '../shared/store/cert-store.ts';
import type { CertificateSpec } from './config.ts';
import { track } from './on-track.ts';
import { decide } from './renewal-window.ts';

export interface CertificateStatus {
  readonly name: string;
  readonly domains: readonly string[];
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly issuer?: string;
  /** When it is due by its lifetime (an ARI window, when the CA has one, may move it). */
  readonly nextRenewal?: string;
  readonly lastSuccess?: string;
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string };
  readonly nextAttempt?: string;
  readonly failures: number;
  /** More than its renewal margin left, or a renewal on track (on-track.ts). */
  readonly onTrack: boolean;
  readonly reason: string;
}

/** Status of the configured certificates, or of every certificate in the store when none are. */
export async function readStatus(
  store: CertStore,
  specs: readonly CertificateSpec[],
  now: Date = new Date(),
): Promise<CertificateStatus[]> {
  const wanted =
    specs.length > 0
      ? specs
      : (await store.names()).map((name) => ({ name, domains: [] as readonly string[] }));
  return Promise.all(
    wanted.map(async (spec): Promise<CertificateStatus> => {
      const [current, state] = await Promise.all([store.current(spec.name), store.state(spec.name)]);
      const c = current?.certificate;
      const domains = spec.domains.length > 0 ? spec.domains : (c?.domains ?? []);
      const d = decide({
        now,
        domains,
        ...(c === undefined
          ? {}
          : {
              current: {
                notBefore: new Date(c.notBefore),
                notAfter: new Date(c.notAfter),
                domains: c.domains,
              },
            }),
      });
      const t = track({
        now,
        ...(c === undefined ? {} : { certificate: c }),
        ...(state === undefined ? {} : { state }),
        domains,
      });
      return {
        name: spec.name,
        domains,
        failures: state?.failures ?? 0,
        onTrack: t.onTrack,
        reason: t.reason,
        ...(c === undefined
          ? {}
          : { serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter, issuer: c.issuer }),
        nextRenewal: d.at.toISOString(),
        ...(state?.lastSuccessAt === undefined ? {} : { lastSuccess: state.lastSuccessAt }),
        ...(state?.lastError === undefined ? {} : { lastError: state.lastError }),
        ...(state?.nextAttemptAt === undefined ? {} : { nextAttempt: state.nextAttemptAt }),
      };
    }),
  );
}

/** The human-readable form of `renewer status`. */
export function formatStatus(statuses: readonly CertificateStatus[]): string {
  if (statuses.length === 0) return 'No certificates in the store.\n';
  return statuses
    .map((s) => {
      const lines = [`${s.name}`, `  names:        ${s.domains.join(', ')}`];
      if (s.serial === undefined) lines.push('  certificate:  none stored yet');
      else {
        lines.push(`  serial:       ${s.serial}`);
        lines.push(`  valid:        ${s.notBefore} → ${s.notAfter}`);
        lines.push(`  issuer:       ${s.issuer}`);
      }
      lines.push(`  next renewal: ${s.nextRenewal}`);
      lines.push(`  on track:     ${s.onTrack ? 'yes' : 'NO'}: ${s.reason}`);
      if (s.lastSuccess !== undefined) lines.push(`  last renewed: ${s.lastSuccess}`);
      if (s.lastError !== undefined) {
        lines.push(`  last error:   ${s.lastError.at} ${s.lastError.code}: ${s.lastError.message}`);
        if (s.lastError.code === 'WSFLEET_SELF_CHECK') {
          lines.push(
            '  waiting for:  each name to reach this renewer (DNS record to the load balancer, app VMs serving);',
          );
          lines.push(
            '                nothing is asked of the CA until then; the check repeats every 15 s for an hour',
          );
        }
        lines.push(
          `  failures:     ${s.failures}${s.nextAttempt ? `, next attempt ${s.nextAttempt}` : ', not retrying until asked'}`,
        );
      }
      return lines.join('\n');
    })
    .join('\n\n')
    .concat('\n');
}
