/** The lab's VMs: each booted from its role's image with the user-data the deploy renders. */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type RenewerValues, renderUserData } from '../../cloud-init/render.ts';
import { LabError } from './errors.ts';
import { bootMachine, type Machine, waitBooted } from './machine.ts';
import { createMachineNetwork, deleteMachineNetwork } from './net.ts';
import type { LabPlan } from './plan.ts';
import type { LabState, MachineState } from './state.ts';

/** Where install.sh puts Let's Encrypt's staging roots in the image, beside the bundle. */
export const IMAGE_STAGING_ROOTS = '/opt/wsfleet/letsencrypt-staging-roots.pem';

export interface BootedVm {
  readonly state: MachineState;
  readonly machine: Machine;
  /** Resolves once cloud-init has run and systemd is up. */
  ready(timeoutMs: number): Promise<void>;
}

async function bootVm(
  plan: LabPlan,
  dir: string,
  state: LabState,
  role: 'app' | 'renewer',
  name: string,
  address: string,
  log: (text: string) => void,
  serverId?: number,
  renewerValues?: RenewerValues,
): Promise<BootedVm> {
  const image = state.images[role];
  const values = state.values;
  if (image === undefined || values === undefined)
    throw new LabError('WSFLEET_LAB_STATE', `lab ${plan.lab} has no ${role} image or values yet`);
  const userData =
    role === 'app'
      ? renderUserData('app', values.app)
      : renderUserData('renewer', renewerValues ?? values.renewer);
  const netns = await createMachineNetwork(plan, name, address);
  const machineDir = join(dir, 'machines', name);
  await rm(machineDir, { recursive: true, force: true });
  // As deployed, the one thing changed in the image: Pebble's root in place of Let's Encrypt's
  // staging roots, which cert-sync trusts with --staging (daemons/cert-sync/trust.ts).
  const bindsReadOnly =
    role === 'app' && state.trust === 'as-deployed'
      ? [`${join(dir, 'root.pem')}:${IMAGE_STAGING_ROOTS}`]
      : [];
  const instanceId = `${name}-${randomUUID()}`;
  const machine = await bootMachine({
    name,
    machineName: plan.machineName(name),
    rootfs: image.rootfs,
    userData,
    instanceId,
    netns,
    dir: machineDir,
    bindsReadOnly,
  });
  log(`${name} (${role}, ${address}) is booting: ${image.image}`);
  return {
    state: {
      name,
      role,
      machineName: plan.machineName(name),
      netns,
      address,
      pid: machine.pid,
      image: image.image,
      instanceId,
      ...(serverId === undefined ? {} : { serverId }),
    },
    machine,
    async ready(timeoutMs) {
      await waitBooted(machine, timeoutMs);
      log(`${name} booted`);
    },
  };
}

export function bootRenewerVm(
  plan: LabPlan,
  dir: string,
  state: LabState,
  log: (text: string) => void,
): Promise<BootedVm> {
  return bootVm(plan, dir, state, 'renewer', 'renewer', plan.renewerAddress, log);
}

/**
 * Another renewer VM on the same store (`spare`: 0–6), with `values` (default: the lab's): two
 * renewers at once, as a managed group has during an update. It is not in the lab's state.
 */
export function bootSpareRenewerVm(
  plan: LabPlan,
  dir: string,
  state: LabState,
  spare: number,
  log: (text: string) => void,
  values?: RenewerValues,
): Promise<BootedVm> {
  return bootVm(
    plan,
    dir,
    state,
    'renewer',
    `renewer-${spare + 2}`,
    plan.spareRenewerAddress(spare),
    log,
    undefined,
    values,
  );
}

export function bootAppVm(
  plan: LabPlan,
  dir: string,
  state: LabState,
  index: number,
  log: (text: string) => void,
): Promise<BootedVm> {
  return bootVm(plan, dir, state, 'app', `app-${index}`, plan.appAddress(index), log, index);
}

/** Powers a VM off and removes its network. */
export async function removeVm(plan: LabPlan, vm: MachineState, machine: Machine | undefined): Promise<void> {
  await machine?.stop();
  await deleteMachineNetwork(plan, vm.name);
}
