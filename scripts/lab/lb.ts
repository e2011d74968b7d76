/**
 * The lab's load balancer: haproxy (haproxy.ts) on the lab's load balancer address, started,
 * reloaded when the app VMs change (a reload keeps the open connections on the old worker, as a
 * backend change on GCP does not cut them), and asked for each VM's health.
 */
import { join } from 'node:path';
import { LabError } from './errors.ts';
import {
  checkHaproxyConfig,
  haproxyArgs,
  type LbBackend,
  type LbSettings,
  reloadHaproxy,
  serverStates,
  writeHaproxyConfig,
} from './haproxy.ts';
import type { LabPlan } from './plan.ts';
import { startService, waitListening } from './services.ts';
import type { ServiceState } from './state.ts';

export const adminSocket = (dir: string): string => join(dir, 'haproxy.sock');

function settings(plan: LabPlan, dir: string, backends: readonly LbBackend[]): LbSettings {
  return {
    vip: plan.vip,
    ports: [80, 443],
    healthPort: 80,
    // Readiness, as the deploy's load balancer checks (liveness is for autohealing).
    healthPath: '/readyz',
    healthIntervalMs: 1_000,
    backends,
    adminSocket: adminSocket(dir),
    pidFile: join(dir, 'haproxy.pid'),
    // Drained and stopped VMs stay so across a reload.
    stateFile: join(dir, 'haproxy.state'),
  };
}

const configFile = (dir: string): string => join(dir, 'haproxy.cfg');

export async function startLoadBalancer(
  plan: LabPlan,
  dir: string,
  backends: readonly LbBackend[],
): Promise<ServiceState> {
  const file = configFile(dir);
  await writeHaproxyConfig(file, settings(plan, dir, backends));
  await checkHaproxyConfig(file);
  const service = startService(plan, ['haproxy', ...haproxyArgs(file)], join(dir, 'lb.log'));
  await waitListening('the load balancer', service, plan.vip, 80);
  return service;
}

/** Points the load balancer at `backends` (a graceful reload: open connections stay). */
export async function reloadLoadBalancer(
  plan: LabPlan,
  dir: string,
  backends: readonly LbBackend[],
): Promise<void> {
  const file = configFile(dir);
  await writeHaproxyConfig(file, settings(plan, dir, backends));
  await reloadHaproxy(file, settings(plan, dir, backends));
}

/** Resolves once every server named in `names` is UP on both ports. */
export async function waitBackendsUp(
  plan: LabPlan,
  dir: string,
  names: readonly string[],
  deadline: number,
): Promise<void> {
  for (;;) {
    const states = await serverStates(adminSocket(dir)).catch(() => []);
    const down = names.filter(
      (name) =>
        !states.some((s) => s.server === name) || states.some((s) => s.server === name && s.status !== 'UP'),
    );
    if (down.length === 0) return;
    if (Date.now() > deadline)
      throw new LabError(
        'WSFLEET_LAB_TIMEOUT',
        `the load balancer does not see ${down.join(', ')} as healthy (${plan.vip})`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
