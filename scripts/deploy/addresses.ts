/** Addresses of the fleet's network: the renewer's reserved internal address, and IPv4 arithmetic. */
import type { FleetConfig } from './fleet-config.ts';

export function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** The renewer's address: given, or the third of the range (GCE keeps the first two). */
export function renewerAddressOf(config: Pick<FleetConfig, 'network'>): string {
  if (config.network.renewerAddress !== undefined) return config.network.renewerAddress;
  const [base = '0.0.0.0'] = config.network.range.split('/');
  const n = ipNumber(base) + 2;
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}
