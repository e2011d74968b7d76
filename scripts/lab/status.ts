/** `wsfleet lab status`: each machine, its units and the certificate it serves; the load balancer's view. */
import { unitsOf } from '../../cloud-init/render.ts';
import { serverStates } from './haproxy.ts';
import { adminSocket } from './lb.ts';
import { attachMachine } from './machine.ts';
import { isProcess } from './processes.ts';
import { servedInside } from './rollout.ts';
import { labSecretsOf, mintCommand } from './secrets.ts';
import { type LabState, labDir } from './state.ts';

export interface MachineStatus {
  readonly name: string;
  readonly role: string;
  readonly address: string;
  readonly image: string;
  readonly running: boolean;
  readonly units: Readonly<Record<string, string>>;
  /** Serial of the certificate nginx serves for the domain (app VMs), or null. */
  readonly servedSerial: string | null;
  /** The load balancer's view of the VM (app VMs): UP, DOWN, … */
  readonly health: string | null;
}

export interface LabStatus {
  readonly lab: string;
  readonly domain: string;
  readonly ready: NonNullable<LabState['ready']> | null;
  readonly services: Readonly<Record<string, boolean>>;
  readonly machines: readonly MachineStatus[];
  /** How to mint a client token from the lab's token secret (null: a lab without one). */
  readonly mintToken: string | null;
}

export async function labStatus(stateDir: string, state: LabState): Promise<LabStatus> {
  const lb = await serverStates(adminSocket(labDir(stateDir, state.lab))).catch(() => []);
  const services: Record<string, boolean> = {};
  for (const [name, s] of Object.entries(state.services))
    services[name] = await isProcess(s.pid, s.argv[0] ?? '');
  const machines = await Promise.all(
    state.machines.map(async (m): Promise<MachineStatus> => {
      const machine = await attachMachine(m.name, m.machineName, m.pid);
      const units: Record<string, string> = {};
      if (machine !== undefined) {
        const values = m.role === 'app' ? state.values?.app : undefined;
        for (const unit of m.role === 'app' ? unitsOf('app', values) : unitsOf(m.role)) {
          const r = await machine.attempt(['systemctl', 'is-active', unit], 10_000);
          units[unit] = r.output.trim() || 'unknown';
        }
      }
      const views = lb.filter((s) => s.server === m.name).map((s) => s.status);
      return {
        name: m.name,
        role: m.role,
        address: m.address,
        image: m.image,
        running: machine !== undefined,
        units,
        servedSerial:
          machine !== undefined && m.role === 'app' ? await servedInside(machine, state.domain) : null,
        health:
          views.length === 0
            ? null
            : views.every((v) => v === views[0])
              ? (views[0] ?? null)
              : views.join('/'),
      };
    }),
  );
  const secrets = labSecretsOf(stateDir, state.lab);
  const mintToken = state.values?.app.tokenSecretFrom === undefined ? null : mintCommand(secrets);
  return { lab: state.lab, domain: state.domain, ready: state.ready ?? null, services, machines, mintToken };
}

export function formatStatus(s: LabStatus): string {
  const lines = [
    `lab ${s.lab}: ${s.domain}${s.ready === null ? ' (not ready)' : ` (ready at ${s.ready.at}, after ${s.ready.seconds} s)`}`,
    `services: ${Object.entries(s.services)
      .map(([n, up]) => `${n} ${up ? 'running' : 'STOPPED'}`)
      .join(', ')}`,
  ];
  for (const m of s.machines) {
    lines.push(
      `${m.name.padEnd(9)} ${m.role.padEnd(8)} ${m.address.padEnd(12)} ${m.running ? 'running' : 'STOPPED'}${m.health === null ? '' : `  lb ${m.health}`}`,
      `          ${Object.entries(m.units)
        .map(([u, a]) => `${u} ${a}`)
        .join(', ')}`,
    );
    if (m.role === 'app') lines.push(`          serves ${m.servedSerial ?? 'no certificate'}`);
  }
  if (s.mintToken !== null) lines.push(`token for a client (as root): ${s.mintToken}`);
  return `${lines.join('\n')}\n`;
}
