/** The renewer's Prometheus series, named in the spirit of cert-manager's (README lists them). */
import { Counter, createRegistry, Gauge, type Registry } from '../shared/metrics.ts';
import type { LookupEvent } from './challenge-lookup.ts';

/** Counts a challenge lookup's outcome in its series. */
export function countLookup(metrics: RenewerMetrics, event: LookupEvent): void {
  const [kind, detail] = event.split(':') as [string, string];
  if (kind === 'refused') metrics.challengeLookupsRefused.inc({ reason: detail });
  else metrics.challengeLookups.inc({ from: kind, result: detail });
}

export interface RenewerMetrics {
  readonly registry: Registry;
  readonly expiry: Gauge<'name'>;
  readonly renewalTime: Gauge<'name'>;
  readonly lastSuccess: Gauge<'name'>;
  readonly ready: Gauge<'name'>;
  readonly onTrack: Gauge<'name'>;
  readonly failures: Counter<'name' | 'reason'>;
  readonly issued: Counter<'name'>;
  /** The challenge server's lookups of answers it does not hold: from the cache or the store. */
  readonly challengeLookups: Counter<'from' | 'result'>;
  readonly challengeLookupsRefused: Counter<'reason'>;
}

export function createRenewerMetrics(): RenewerMetrics {
  const registry = createRegistry();
  const registers = [registry];
  return {
    registry,
    expiry: new Gauge({
      name: 'wsfleet_renewer_certificate_expiration_timestamp_seconds',
      help: 'When the stored certificate expires (notAfter), by certificate name',
      labelNames: ['name'],
      registers,
    }),
    renewalTime: new Gauge({
      name: 'wsfleet_renewer_certificate_renewal_timestamp_seconds',
      help: 'When the certificate is next due for renewal',
      labelNames: ['name'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'wsfleet_renewer_last_success_timestamp_seconds',
      help: 'When the certificate was last renewed and stored',
      labelNames: ['name'],
      registers,
    }),
    onTrack: new Gauge({
      name: 'wsfleet_renewer_certificate_on_track',
      help: '1 when the certificate has more than its renewal margin left or its renewal is on track (see renewer status)',
      labelNames: ['name'],
      registers,
    }),
    ready: new Gauge({
      name: 'wsfleet_renewer_certificate_ready_status',
      help: '1 when a valid certificate for the configured names is in the store',
      labelNames: ['name'],
      registers,
    }),
    failures: new Counter({
      name: 'wsfleet_renewer_failures_total',
      help: 'Failed renewal attempts, by certificate name and reason',
      labelNames: ['name', 'reason'],
      registers,
    }),
    issued: new Counter({
      name: 'wsfleet_renewer_certificates_issued_total',
      help: 'Certificates issued and stored',
      labelNames: ['name'],
      registers,
    }),
    challengeLookups: new Counter({
      name: 'wsfleet_renewer_challenge_lookups_total',
      help: 'Challenge tokens this renewer does not hold, looked up: from (cache, store), result (found, absent, error)',
      labelNames: ['from', 'result'],
      registers,
    }),
    challengeLookupsRefused: new Counter({
      name: 'wsfleet_renewer_challenge_lookups_refused_total',
      help: 'Challenge lookups refused without a store read: reason source_rate (429) or busy (503)',
      labelNames: ['reason'],
      registers,
    }),
  };
}
