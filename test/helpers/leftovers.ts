/**
 * What a test run leaves behind on the machine: files under the temporary folder, processes,
 * network namespaces and mounts. The run gets a temporary folder of its own (TMPDIR, which every
 * test, tool and daemon it starts inherits) and a marker in the environment of every process it
 * starts; at the end, whatever carries the marker or sits in that folder, and every namespace or
 * mount that was not there before, is a leftover: listed, removed where it can be, and the run
 * fails.
 */
import { chmod, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export const RUN_MARKER = 'WSFLEET_TEST_RUN';

export interface RunGuard {
  /** The run's own temporary folder. */
  readonly tmp: string;
  /**
   * Lists what the run left, then removes the folder and ends the marked processes. Processes
   * still exiting are given `settleMs` to go.
   */
  finish(settleMs?: number): Promise<string[]>;
}

interface Snapshot {
  readonly netns: ReadonlySet<string>;
  readonly mounts: ReadonlySet<string>;
}

async function netnsNames(): Promise<Set<string>> {
  const result = await execa('ip', ['netns', 'list'], { reject: false });
  return new Set(
    result.exitCode === 0
      ? result.stdout
          .split('\n')
          .map((l) => l.split(' ')[0] ?? '')
          .filter((n) => n !== '')
      : [],
  );
}

/** Mount points, from /proc/self/mountinfo (field 5). */
async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return new Set(
    text
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m !== ''),
  );
}

async function snapshot(): Promise<Snapshot> {
  return { netns: await netnsNames(), mounts: await mountPoints() };
}

/** Processes whose environment carries `marker=value`, with their command lines. */
export async function markedProcesses(marker: string, value: string): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const needle = `${marker}=${value}\0`;
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e));
  for (const entry of pids) {
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (!environ.includes(needle)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
    // A zombie has no command line: it is gone but for its parent's wait.
    if (cmdline === '' && exe === '') continue;
    found.set(pid, cmdline.split('\0').join(' ').trim());
  }
  return found;
}

async function settle(marker: string, value: string, deadlineMs: number): Promise<Map<number, string>> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const left = await markedProcesses(marker, value);
    if (left.size === 0 || Date.now() >= until) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    out.push(`${prefix}${e.name}${e.isDirectory() ? '/' : ''}`);
  }
  return out.sort();
}

/**
 * Starts guarding a run: a temporary folder of its own as TMPDIR, and the marker, both in this
 * process's environment so that every worker and child started from now on inherits them.
 */
export async function guardRun(label: string): Promise<RunGuard> {
  const tmp = await mkdtemp(join(tmpdir(), `wsfleet-${label}-run-`));
  // As /tmp is: tests run children as other users (nobody), who must reach their own folders.
  await chmod(tmp, 0o1777);
  const id = `${label}-${process.pid}-${Date.now()}`;
  const before = await snapshot();
  process.env.TMPDIR = tmp;
  process.env[RUN_MARKER] = id;
  // Children run under tsx would keep its compile cache in TMPDIR (tsx-<uid>/): a folder removed
  // at the end of the run keeps nothing for the next one, so no cache is written at all.
  process.env.TSX_DISABLE_CACHE = '1';
  return {
    tmp,
    async finish(settleMs = 10_000) {
      const problems: string[] = [];
      const processes = await settle(RUN_MARKER, id, settleMs);
      for (const [pid, cmd] of processes) problems.push(`process ${pid}: ${cmd.slice(0, 200)}`);
      for (const name of await listTree(tmp)) problems.push(`temporary file ${join(tmp, name)}`);
      const after = await snapshot();
      for (const ns of after.netns) if (!before.netns.has(ns)) problems.push(`network namespace ${ns}`);
      for (const m of after.mounts) if (!before.mounts.has(m)) problems.push(`mount ${m}`);
      // Clean up what can be cleaned, so one leaky run does not spoil the next.
      for (const pid of processes.keys()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      return problems;
    },
  };
}

/** Reports leftovers and fails the run: vitest ignores an error thrown by a global teardown. */
export function failRunOnLeftovers(what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  process.stderr.write(
    `\n${what} left ${problems.length} thing(s) behind (each test must clean up what it starts):\n${problems
      .map((p) => `  - ${p}`)
      .join('\n')}\n`,
  );
  process.exitCode = 1;
}
