/**
 * A lab VM: a systemd-nspawn machine booted from a local image (images/build/local-build.ts) with
 * real systemd as PID 1 and the deploy's user-data as a NoCloud seed, as GCE boots the same image
 * with the same user-data. The image stays read-only: each machine writes to its own overlay
 * (nspawn --volatile=overlay), so any number of machines share one image and a replaced machine
 * starts clean, as a recreated instance does.
 *
 * A machine runs detached from the process that booted it (its console goes to a log file), so
 * it outlives `wsfleet lab up`; `attachMachine` finds it again from its nspawn PID.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { LabError } from './errors.ts';
import { commandLine } from './processes.ts';

export interface MachineSpec {
  /** The machine's name: its hostname, and (prefixed with the lab) nspawn's machine name. */
  readonly name: string;
  /** The nspawn machine name, unique on this host. */
  readonly machineName: string;
  readonly rootfs: string;
  readonly userData: string;
  /** NoCloud's instance-id: a new one makes cloud-init run afresh, as on a new VM. */
  readonly instanceId: string;
  /** A network namespace by name (`ip netns`); unset: a private network with only loopback. */
  readonly netns?: string;
  /** A folder for the seed and the console log. */
  readonly dir: string;
  /** Host files put read-only over files of the image: `host:machine`. */
  readonly bindsReadOnly?: readonly string[];
}

export interface Machine {
  readonly name: string;
  /** nspawn's PID. */
  readonly pid: number;
  /** PID 1 of the machine, as the host sees it. */
  readonly leader: number;
  /** Runs a command inside the machine; resolves with stdout, rejects with its output. */
  run(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Like run(), but resolves with the exit code and output. */
  attempt(args: readonly string[], timeoutMs?: number): Promise<{ code: number; output: string }>;
  /** Powers the machine off (SIGTERM to nspawn: a clean shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Network config is the lab's (set from outside, as GCE's network is), not cloud-init's. */
const NETWORK_DISABLED = 'network: {config: disabled}\n';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when `pid` is gone, or false after `timeoutMs`. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Whether `pid` is the nspawn of machine `machineName` (and not a PID reused since). */
export async function isMachineProcess(pid: number, machineName: string): Promise<boolean> {
  const argv = await commandLine(pid);
  return (
    (argv?.some((a) => a.endsWith('systemd-nspawn')) ?? false) &&
    argv?.includes(`--machine=${machineName}`) === true
  );
}

async function findLeader(pid: number, timeoutMs: number, log: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // nspawn forks a short-lived helper first; PID 1 of the machine is the child running systemd.
    const ps = await execa('ps', ['--ppid', String(pid), '-o', 'pid=,comm='], { reject: false });
    const line = ps.stdout.split('\n').find((l) => /\ssystemd$/.test(l));
    const leader = Number(line?.trim().split(/\s+/)[0]);
    if (Number.isInteger(leader) && leader > 0) return leader;
    if (!alive(pid) || Date.now() > deadline) {
      const console = await readFile(log, 'utf8').catch(() => '');
      throw new LabError(
        'WSFLEET_LAB_MACHINE',
        `machine did not start (nspawn ${alive(pid) ? 'still has no systemd' : 'exited'}):\n${console.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Boots a machine, detached; resolves once its PID 1 runs (not once it has booted: see waitBooted). */
export async function bootMachine(spec: MachineSpec): Promise<Machine> {
  const seed = join(spec.dir, 'seed');
  await mkdir(seed, { recursive: true });
  await writeFile(join(seed, 'meta-data'), `instance-id: ${spec.instanceId}\nlocal-hostname: ${spec.name}\n`);
  await writeFile(join(seed, 'user-data'), spec.userData, { mode: 0o600 });
  const network = join(spec.dir, '99-lab-network.cfg');
  await writeFile(network, NETWORK_DISABLED);
  const log = join(spec.dir, 'console.log');
  const out = openSync(log, 'a');
  const child = spawn(
    'systemd-nspawn',
    [
      // The host has no systemd to register with; the machine lives in this process's cgroup.
      '--register=no',
      '--keep-unit',
      '--quiet',
      '--volatile=overlay',
      '--console=pipe',
      `--machine=${spec.machineName}`,
      `--hostname=${spec.name}`,
      spec.netns === undefined ? '--private-network' : `--network-namespace-path=/run/netns/${spec.netns}`,
      `--bind-ro=${seed}:/var/lib/cloud/seed/nocloud`,
      `--bind-ro=${network}:/etc/cloud/cloud.cfg.d/99-lab-network.cfg`,
      ...(spec.bindsReadOnly ?? []).map((bind) => `--bind-ro=${bind}`),
      '-D',
      spec.rootfs,
      '-b',
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined)
    throw new LabError('WSFLEET_LAB_MACHINE', `could not start systemd-nspawn for ${spec.name}`);
  const leader = await findLeader(pid, 30_000, log);
  return machineOf(spec.name, pid, leader);
}

/** The running machine of an earlier `bootMachine`, found from nspawn's PID. */
export async function attachMachine(
  name: string,
  machineName: string,
  pid: number,
): Promise<Machine | undefined> {
  if (!(await isMachineProcess(pid, machineName))) return undefined;
  try {
    return machineOf(name, pid, await findLeader(pid, 2_000, '/dev/null'));
  } catch {
    return undefined;
  }
}

function machineOf(name: string, pid: number, leader: number): Machine {
  const enter = ['-t', String(leader), '-m', '-u', '-i', '-n', '-p', '-C', '--'];
  const attempt = async (args: readonly string[], timeoutMs = 60_000) => {
    const r = await execa('nsenter', [...enter, ...args], { reject: false, all: true, timeout: timeoutMs });
    return { code: r.exitCode ?? -1, output: r.all ?? '' };
  };
  return {
    name,
    pid,
    leader,
    attempt,
    async run(args, timeoutMs) {
      const r = await execa('nsenter', [...enter, ...args], { reject: false, timeout: timeoutMs ?? 60_000 });
      if (r.failed)
        throw new LabError(
          'WSFLEET_LAB_MACHINE',
          `${name}: ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): ${`${r.stdout}\n${r.stderr}`.trim()}`,
        );
      return r.stdout;
    },
    async stop(graceMs = 30_000) {
      if (!alive(pid)) return;
      process.kill(pid, 'SIGTERM');
      if (await waitGone(pid, graceMs)) return;
      process.kill(-pid, 'SIGKILL');
      await waitGone(pid, 10_000);
    },
  };
}

/**
 * Waits until cloud-init has finished (its last stage starts the units) and systemd is up;
 * on failure, the error holds what cloud-init and systemd say went wrong.
 */
export async function waitBooted(machine: Machine, timeoutMs: number): Promise<void> {
  try {
    await machine.run(['cloud-init', 'status', '--wait'], timeoutMs);
    await machine.attempt(['systemctl', 'is-system-running', '--wait'], timeoutMs);
  } catch (err) {
    const report = await machine.attempt([
      'sh',
      '-c',
      'cloud-init status --long; systemctl --failed --no-pager; journalctl -b -p warning -n 40 --no-pager',
    ]);
    throw new LabError('WSFLEET_LAB_MACHINE', `${machine.name} did not finish booting:\n${report.output}`, {
      cause: err,
    });
  }
}
