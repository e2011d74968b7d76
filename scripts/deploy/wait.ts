/**
 * After a deploy: wait, bounded by --wait-timeout, until the load balancer reports every app VM
 * healthy and every certificate is served on the static address. Progress is printed whenever
 * what is seen changes; on timeout the error says what was still missing (the cluster stays).
 */
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { Gcloud } from './gcloud.ts';
import type { FleetNames } from './names.ts';
import type { Progress } from './progress.ts';
import { probeCertificate, type ServedCertificate } from './tls-probe.ts';

type Json = Record<string, unknown>;

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs: number;
  /** The static address and the port it serves TLS on (443). */
  readonly address: string;
  readonly httpsPort: number;
}

export interface BackendHealth {
  readonly healthy: number;
  readonly total: number;
  /** `instance: STATE` of each VM. */
  readonly states: readonly string[];
}

/** Reads `gcloud compute backend-services get-health`'s output. */
export function backendHealth(output: unknown): BackendHealth {
  const states: string[] = [];
  for (const backend of Array.isArray(output) ? (output as Json[]) : []) {
    const status = (backend.status ?? {}) as Json;
    for (const h of Array.isArray(status.healthStatus) ? (status.healthStatus as Json[]) : []) {
      states.push(
        `${String(h.instance ?? '')
          .split('/')
          .pop()}: ${String(h.healthState ?? 'UNKNOWN')}`,
      );
    }
  }
  return { healthy: states.filter((s) => s.endsWith(': HEALTHY')).length, total: states.length, states };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitForCluster(
  config: FleetConfig,
  names: FleetNames,
  gcloud: Gcloud,
  progress: Progress,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const expired = () => Date.now() >= deadline;
  let last = '';
  const say = (text: string) => {
    if (text !== last) progress.step(text);
    last = text;
  };

  let health: BackendHealth = { healthy: 0, total: 0, states: [] };
  for (;;) {
    health = backendHealth(
      await gcloud.run([
        'compute',
        'backend-services',
        'get-health',
        names.backendService,
        `--region=${config.region}`,
      ]),
    );
    say(`load balancer: ${health.healthy} of ${config.app.size} app VMs healthy`);
    if (health.healthy >= config.app.size) break;
    if (expired()) {
      throw new DeployError(
        'WSFLEET_DEPLOY_WAIT_TIMEOUT',
        `the load balancer reports ${health.healthy} of ${config.app.size} app VMs healthy after ${Math.round(options.timeoutMs / 1000)} s (${health.states.join(', ') || 'no VM yet'}); see \`wsfleet status\``,
      );
    }
    await sleep(Math.min(options.pollMs, Math.max(0, deadline - Date.now())));
  }

  const names1 = config.certificates.map((set) => set[0] as string);
  let served: ServedCertificate[] = [];
  for (;;) {
    served = await Promise.all(
      names1.map((name) => probeCertificate(options.address, options.httpsPort, name)),
    );
    const ok = served.filter((s) => s.ok);
    say(
      `certificates served: ${ok.length} of ${names1.length}${ok.length < names1.length ? ' (the renewer orders them once DNS points at the address)' : ''}`,
    );
    if (ok.length === names1.length) return;
    if (expired()) {
      const missing = served.filter((s) => !s.ok).map((s) => `${s.name}: ${s.problem ?? 'not served'}`);
      throw new DeployError(
        'WSFLEET_DEPLOY_WAIT_TIMEOUT',
        `not every certificate is served after ${Math.round(options.timeoutMs / 1000)} s (${missing.join('; ')}); check the DNS records, then \`wsfleet status\``,
      );
    }
    await sleep(Math.min(options.pollMs, Math.max(0, deadline - Date.now())));
  }
}
