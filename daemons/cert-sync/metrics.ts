/** cert-sync's Prometheus series (README lists them), in the spirit of cert-manager's. */
import { Counter, createRegistry, Gauge, type Registry } from '../shared/metrics.ts';

export interface CertSyncMetrics {
  readonly registry: Registry;
  /** 1 for the serial nginx was last seen serving, by name (an info metric). */
  readonly servedInfo: Gauge<'name' | 'serial'>;
  readonly servedExpiry: Gauge<'name'>;
  readonly installedExpiry: Gauge<'name'>;
  readonly lastSync: Gauge;
  readonly lastAttempt: Gauge;
  readonly storeReachable: Gauge;
  readonly refusals: Counter<'name' | 'reason'>;
  readonly reloadFailures: Counter<'name' | 'stage'>;
  readonly verifyFailures: Counter<'name' | 'reason'>;
  /** Reloads retried because nginx served another serial than installed, by how they ended. */
  readonly reloadRetries: Counter<'name' | 'result'>;
  /** 1 when nginx was last seen serving the installed serial, 0 when it served another. */
  readonly servedMatchesInstalled: Gauge<'name'>;
  readonly installs: Counter<'name' | 'source'>;
  readonly storeErrors: Counter<'code'>;
}

export function createCertSyncMetrics(): CertSyncMetrics {
  const registry = createRegistry();
  const registers = [registry];
  return {
    registry,
    servedInfo: new Gauge({
      name: 'wsfleet_cert_sync_served_certificate_info',
      help: 'Always 1: the serial of the certificate nginx was last seen serving, by name',
      labelNames: ['name', 'serial'],
      registers,
    }),
    servedExpiry: new Gauge({
      name: 'wsfleet_cert_sync_served_certificate_expiration_timestamp_seconds',
      help: 'When the certificate nginx serves expires (notAfter), by name',
      labelNames: ['name'],
      registers,
    }),
    installedExpiry: new Gauge({
      name: 'wsfleet_cert_sync_installed_certificate_expiration_timestamp_seconds',
      help: 'When the installed certificate expires (notAfter), by name',
      labelNames: ['name'],
      registers,
    }),
    lastSync: new Gauge({
      name: 'wsfleet_cert_sync_last_sync_timestamp_seconds',
      help: 'When a sync last reached the store and left every certificate current',
      registers,
    }),
    lastAttempt: new Gauge({
      name: 'wsfleet_cert_sync_last_attempt_timestamp_seconds',
      help: 'When a sync was last attempted',
      registers,
    }),
    storeReachable: new Gauge({
      name: 'wsfleet_cert_sync_store_reachable',
      help: '1 when the last request to the store succeeded',
      registers,
    }),
    refusals: new Counter({
      name: 'wsfleet_cert_sync_refusals_total',
      help: 'Certificates refused by validation (the last good one stays), by name and reason',
      labelNames: ['name', 'reason'],
      registers,
    }),
    reloadFailures: new Counter({
      name: 'wsfleet_cert_sync_reload_failures_total',
      help: 'Installs rolled back because nginx refused the configuration or the reload, by stage',
      labelNames: ['name', 'stage'],
      registers,
    }),
    verifyFailures: new Counter({
      name: 'wsfleet_cert_sync_verify_failures_total',
      help: 'Checks after which nginx did not serve the installed serial: old_serial or unreachable',
      labelNames: ['name', 'reason'],
      registers,
    }),
    reloadRetries: new Counter({
      name: 'wsfleet_cert_sync_reload_retries_total',
      help: 'nginx reloaded again because it served another serial than installed: result served, not_served or failed',
      labelNames: ['name', 'result'],
      registers,
    }),
    servedMatchesInstalled: new Gauge({
      name: 'wsfleet_cert_sync_served_matches_installed',
      help: '1 when nginx was last seen serving the installed serial, 0 when it served another',
      labelNames: ['name'],
      registers,
    }),
    installs: new Counter({
      name: 'wsfleet_cert_sync_installs_total',
      help: 'Certificates installed and loaded by nginx, from the store or from a change on disk',
      labelNames: ['name', 'source'],
      registers,
    }),
    storeErrors: new Counter({
      name: 'wsfleet_cert_sync_store_errors_total',
      help: 'Failed store requests, by error code',
      labelNames: ['code'],
      registers,
    }),
  };
}
