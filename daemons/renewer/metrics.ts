/** The renewer's Prometheus series, named in the spirit of cert-manager's (README lists them). */
import { Counter, createRegistry, Gauge, type Registry } from '../shared/metrics.ts';

export interface RenewerMetrics {
  readonly registry: Registry;
  readonly expiry: Gauge<'name'>;
  readonly renewalTime: Gauge<'name'>;
  readonly lastSuccess: Gauge<'name'>;
  readonly ready: Gauge<'name'>;
  readonly onTrack: Gauge<'name'>;
  readonly failures: Counter<'name' | 'reason'>;
  readonly issued: Counter<'name'>;
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
  };
}
