/**
 * Prometheus metrics: one registry per daemon (not prom-client's global one, so two daemons in
 * one test process never mix their series), with the process metrics prom-client collects.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createRegistry(prefix = 'wsfleet_'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}
