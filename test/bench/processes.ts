/**
 * Child processes of the bench: started with their output in a log file, tracked so that every
 * one of them is killed when the bench ends (normally, on error or on a signal), and read through
 * /proc for memory (VmRSS) and CPU time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();

/**
 * Children of this process that lead a process group of their own: detached children such as
 * the nginx master the test helpers start, whose workers share its group.
 */
function groupLeadingChildren(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, pgrp, …
      const [, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && Number(pgrp) === Number(entry)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/**
 * Kills every child still running, at once, and the whole process group of every detached child
 * (an nginx master and its workers, old ones still finishing connections included); safe to call
 * from an 'exit' handler.
 */
export function killAllNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
  for (const pid of groupLeadingChildren()) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}

/** Registers a child so that `killAllNow` and `stopProcess` know it. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
}

/** Starts `command` with stdout and stderr appended to `logFile`. */
export function spawnLogged(command: string, args: readonly string[], logFile: string): Spawned {
  const fd = openSync(logFile, 'a');
  try {
    const child = track(spawn(command, args, { stdio: ['ignore', fd, fd] }));
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    return { child, pid: child.pid, logFile };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A TCP port that was free a moment ago on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The last lines of a log file, for error messages. */
export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `GET http://host:port/healthz` until it answers 200 (bounded by `timeoutMs`). */
export async function waitHealthy(
  spawned: Spawned,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) {
      throw new Error(
        `exited (${spawned.child.exitCode ?? spawned.child.signalCode}):\n${tail(spawned.logFile)}`,
      );
    }
    try {
      const res = await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`not healthy within ${timeoutMs} ms (${last}):\n${tail(spawned.logFile)}`);
}

/** Resident set size in KiB, from /proc/<pid>/status. */
export function rssKb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Linux reports /proc times in USER_HZ, which is 100 on every mainstream architecture. */
const TICKS_PER_SECOND = 100;

/** CPU seconds the whole machine spent busy (all cores, anything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / TICKS_PER_SECOND;
}

/**
 * Waits (bounded) until the machine is nearly idle — other users' jobs share these cores — and
 * returns the cores busy in the last half-second sample.
 */
export async function waitForQuiet(maxCores: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const before = machineBusySeconds();
    await sleep(500);
    const cores = (machineBusySeconds() - before) / 0.5;
    if (cores <= maxCores || performance.now() >= deadline) return cores;
  }
}

/** User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
