/**
 * The lab's network, made with iproute2: a lab namespace holding a bridge, and one namespace per
 * machine linked to the bridge by a veth pair. Nothing is added to the host's own namespace.
 */
import { execa } from 'execa';
import { LabError } from './errors.ts';
import { CLIENT_ADDRESSES, type LabPlan } from './plan.ts';

async function ip(args: readonly string[]): Promise<void> {
  const r = await execa('ip', args, { reject: false, timeout: 15_000 });
  if (r.failed)
    throw new LabError('WSFLEET_LAB_SERVICE', `ip ${args.join(' ')} failed: ${r.stderr || r.shortMessage}`);
}

export async function netnsExists(name: string): Promise<boolean> {
  const r = await execa('ip', ['netns', 'list'], { reject: false, timeout: 15_000 });
  return r.stdout.split('\n').some((line) => line.split(' ')[0] === name);
}

/** Every namespace whose name starts with `prefix`. */
export async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const r = await execa('ip', ['netns', 'list'], { reject: false, timeout: 15_000 });
  return r.stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name === prefix || name.startsWith(`${prefix}-`));
}

export async function deleteNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await ip(['netns', 'delete', name]);
}

/** The lab namespace with its bridge: the services' address, the load balancer's, the clients'. */
export async function createLabNetwork(plan: LabPlan): Promise<void> {
  if (!(await netnsExists(plan.netns))) await ip(['netns', 'add', plan.netns]);
  const n = ['-n', plan.netns];
  await ip([...n, 'link', 'set', 'lo', 'up']);
  const links = await execa('ip', [...n, 'link', 'show', plan.bridge], { reject: false });
  if (links.exitCode !== 0) await ip([...n, 'link', 'add', plan.bridge, 'type', 'bridge']);
  await ip([...n, 'addr', 'replace', `${plan.services}/24`, 'dev', plan.bridge]);
  await ip([...n, 'addr', 'replace', `${plan.vip}/32`, 'dev', plan.bridge]);
  for (let i = 0; i < CLIENT_ADDRESSES; i++)
    await ip([...n, 'addr', 'replace', `${plan.clientAddress(i)}/32`, 'dev', plan.bridge]);
  await ip([...n, 'link', 'set', plan.bridge, 'up']);
}

/** A machine's namespace, linked to the bridge, with `address` on its eth0 and a default route. */
export async function createMachineNetwork(plan: LabPlan, name: string, address: string): Promise<string> {
  const netns = plan.machineNetns(name);
  await deleteNetns(netns);
  await ip(['netns', 'add', netns]);
  const veth = plan.hostVeth(name);
  const n = ['-n', plan.netns];
  await execa('ip', [...n, 'link', 'delete', veth], { reject: false });
  await ip([...n, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await ip([...n, 'link', 'set', veth, 'master', plan.bridge, 'up']);
  const m = ['-n', netns];
  await ip([...m, 'link', 'set', 'lo', 'up']);
  await ip([...m, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await ip([...m, 'link', 'set', 'eth0', 'up']);
  await ip([...m, 'route', 'add', 'default', 'via', plan.services]);
  return netns;
}

/** Removes a machine's namespace and its link on the bridge. */
export async function deleteMachineNetwork(plan: LabPlan, name: string): Promise<void> {
  await deleteNetns(plan.machineNetns(name));
  if (await netnsExists(plan.netns))
    await execa('ip', ['-n', plan.netns, 'link', 'delete', plan.hostVeth(name)], { reject: false });
}
