/**
 * A rolling update of the lab's app VMs, as a regional managed group does it with surge 1 and no
 * unavailable VM: for each old VM, boot a new one from the current app image (a new name and
 * address), wait until it serves the certificate and the load balancer sees it healthy, then
 * drain the old one in the load balancer, stop its app (which closes every WebSocket with 1012
 * so clients reconnect, to a healthy VM) and power it off.
 */
import { unitsOf } from '../../cloud-init/render.ts';
import { LabError } from './errors.ts';
import { HEALTH_BACKEND, setServerState } from './haproxy.ts';
import { adminSocket, reloadLoadBalancer, waitBackendsUp } from './lb.ts';
import { attachMachine, type Machine } from './machine.ts';
import { bootAppVm, removeVm } from './machines.ts';
import { labPlan } from './plan.ts';
import { type LabState, labDir, type MachineState, requireState, writeState } from './state.ts';

/** Runs inside an app VM, on its own Node: the serial nginx presents for the domain on 127.0.0.1:443. */
const SERVED = `
const tls = require('node:tls');
const s = tls.connect({ host: '127.0.0.1', port: 443, servername: process.argv[1], rejectUnauthorized: false, timeout: 3000 });
s.once('secureConnect', () => { console.log(s.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? ''); s.destroy(); });
s.once('error', () => console.log(''));
s.once('timeout', () => { console.log(''); s.destroy(); });
`;

/** The serial the VM's nginx serves for `domain`, or null while it serves none. */
export async function servedInside(machine: Machine, domain: string): Promise<string | null> {
  const { code, output } = await machine.attempt(
    ['/opt/wsfleet/node/bin/node', '-e', SERVED, domain],
    10_000,
  );
  const serial = output.trim();
  return code === 0 && /^[0-9a-f]+$/.test(serial) ? serial : null;
}

function backends(machines: readonly MachineState[]) {
  return machines
    .filter((m) => m.role === 'app')
    .map((m) => ({ name: m.name, id: m.serverId ?? 0, address: m.address }));
}

export interface RolloutOptions {
  readonly stateDir: string;
  readonly lab: string;
  readonly timeoutMs: number;
  readonly step: (text: string) => void;
}

/** Replaces every app VM that does not run the current app image (all of them with `all`). */
export async function labRollout(o: RolloutOptions, all = false): Promise<LabState> {
  let state = await requireState(o.stateDir, o.lab);
  const plan = labPlan(o.lab, state.subnet);
  const dir = labDir(o.stateDir, o.lab);
  const image = state.images.app;
  if (image === undefined) throw new LabError('WSFLEET_LAB_STATE', `lab ${o.lab} has no app image`);
  const old = state.machines.filter((m) => m.role === 'app' && (all || m.image !== image.image));
  if (old.length === 0) o.step(`every app VM runs ${image.image} already`);
  for (const vm of old) {
    const deadline = Date.now() + o.timeoutMs;
    const index = state.nextApp;
    state = { ...state, nextApp: index + 1 };
    await writeState(o.stateDir, state);
    o.step(`replacing ${vm.name}: booting app-${index}`);
    const fresh = await bootAppVm(plan, dir, state, index, o.step);
    state = { ...state, machines: [...state.machines, fresh.state] };
    await writeState(o.stateDir, state);
    await fresh.ready(Math.max(deadline - Date.now(), 1_000));
    for (;;) {
      const serial = await servedInside(fresh.machine, state.domain);
      if (serial !== null) {
        o.step(`app-${index} serves ${state.domain}, serial ${serial}`);
        break;
      }
      if (Date.now() > deadline)
        throw new LabError('WSFLEET_LAB_TIMEOUT', `app-${index} serves no certificate for ${state.domain}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await reloadLoadBalancer(plan, dir, backends(state.machines));
    await waitBackendsUp(plan, dir, [fresh.state.name], deadline);
    o.step(`app-${index} is healthy in the load balancer; draining ${vm.name}`);

    // New connections go elsewhere; the app then closes its WebSockets with 1012.
    await setServerState(adminSocket(dir), HEALTH_BACKEND, vm.name, 'drain');
    const machine = await attachMachine(vm.name, vm.machineName, vm.pid);
    if (machine !== undefined) {
      const app = unitsOf('app').find((u) => u.startsWith('wsfleet-app')) ?? 'wsfleet-app.service';
      await machine.attempt(['systemctl', 'stop', app], 60_000);
    }
    await removeVm(plan, vm, machine);
    state = { ...state, machines: state.machines.filter((m) => m.name !== vm.name) };
    await writeState(o.stateDir, state);
    await reloadLoadBalancer(plan, dir, backends(state.machines));
    o.step(`${vm.name} is gone`);
  }
  return state;
}
