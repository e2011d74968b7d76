/**
 * `wsfleet lab down`: removes every machine, process, namespace and file a lab made, from its
 * state when there is one, and in any case by name: nspawn processes of the lab's machines and
 * every process still inside one of its namespaces, then the namespaces themselves. So a failed
 * or interrupted `up`, or a lost state file, leaves nothing behind either.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { attachMachine, waitGone } from './machine.ts';
import { deleteNetns, netnsWithPrefix } from './net.ts';
import { labPlan } from './plan.ts';
import { commandLine } from './processes.ts';
import { stopService } from './services.ts';
import { labDir, readState } from './state.ts';

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
}

/** PIDs whose network namespace is `netns`. */
async function processesIn(netns: string): Promise<number[]> {
  const target = await stat(`/run/netns/${netns}`).catch(() => undefined);
  if (target === undefined) return [];
  const out: number[] = [];
  for (const pid of await pids()) {
    const ns = await stat(`/proc/${pid}/ns/net`).catch(() => undefined);
    if (ns !== undefined && ns.ino === target.ino && ns.dev === target.dev) out.push(pid);
  }
  return out;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

export async function labDown(stateDir: string, lab: string, log: (text: string) => void): Promise<void> {
  const state = await readState(stateDir, lab).catch(() => undefined);
  const plan = labPlan(lab, state?.subnet ?? '10.213.0');

  // Machines first, cleanly (systemd shuts down inside), all at once.
  const machines = state?.machines ?? [];
  await Promise.all(
    machines.map(async (m) => {
      const machine = await attachMachine(m.name, m.machineName, m.pid);
      if (machine === undefined) return;
      log(`stopping ${m.name}`);
      await machine.stop(20_000);
    }),
  );
  // Machines the state does not know (an interrupted `up`).
  const prefix = `--machine=${plan.machineName('')}`;
  for (const pid of await pids()) {
    const argv = await commandLine(pid);
    if (argv?.some((a) => a.endsWith('systemd-nspawn')) && argv.some((a) => a.startsWith(prefix))) {
      log(`stopping machine process ${pid}`);
      kill(pid, 'SIGTERM');
      if (!(await waitGone(pid, 20_000))) kill(pid, 'SIGKILL');
    }
  }
  for (const [name, service] of Object.entries(state?.services ?? {})) {
    log(`stopping ${name}`);
    await stopService(service);
  }
  // Whatever still runs inside the lab's namespaces, then the namespaces.
  const namespaces = await netnsWithPrefix(plan.netns);
  for (const netns of namespaces) {
    for (const pid of await processesIn(netns)) kill(pid, 'SIGKILL');
  }
  for (const netns of namespaces.sort((a, b) => b.length - a.length)) {
    log(`removing namespace ${netns}`);
    await deleteNetns(netns);
  }
  await rm(labDir(stateDir, lab), { recursive: true, force: true });
  log(`lab ${lab} is down`);
}
