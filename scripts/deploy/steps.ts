/**
 * Steps: the unit of the deploy, the rollout and the teardown. A step reads what exists with a
 * `gcloud … describe` and plans the commands (argv arrays, never shell strings) that bring it to
 * what the config says — none when it already is. So running the same steps again does nothing,
 * and after a failure continues where it stopped: that is what makes the commands resumable.
 *
 * Steps run in order. The reads of the steps known up front are made ahead, two at a time
 * (gcloud spends most of a second starting), while earlier steps run; a step built from what
 * an earlier one learned (the Redis address in the app's user-data) reads when its turn comes.
 * A read made ahead that found nothing stays right: a resource only an earlier step creates
 * comes into being after it, and a step plans the same commands for "absent" either way.
 */
import { commandProblems } from './checks.ts';
import { type Argv, type Gcloud, shellQuote } from './gcloud.ts';
import type { Progress } from './progress.ts';

export interface Step {
  /** What it is, for progress lines: `firewall rule wsfleet-allow-web`. */
  readonly title: string;
  /** Reads the resource: its JSON, or undefined when it does not exist. */
  readonly describe: Argv;
  /** The commands that make it so, given what exists (undefined: nothing); [] when it already is. */
  plan(found: unknown): Argv[];
  /** Told the resource once it exists (read again after it was created). */
  learn?(resource: unknown): void;
}

/** A step, or a function that builds it once the steps before it have run (and learned). */
export type PlanItem = Step | (() => Step);

export type Mode = 'apply' | 'remove';

/** Where a run of steps stands in a longer run (a deploy's phases): steps before it, and all. */
export interface Numbering {
  readonly before: number;
  readonly total: number;
}

export interface Summary {
  readonly changed: number;
  readonly unchanged: number;
  readonly total: number;
}

/** Throws if a command breaks a rule of checks.ts: a bug in the step that built it. */
export function guard(args: Argv): Argv {
  const problems = commandProblems(args);
  if (problems.length > 0)
    throw new Error(`refusing to run gcloud ${args.join(' ')}: ${problems.join('; ')}`);
  return args;
}

/**
 * Starts `tasks` in order, at most `limit` at a time and none more than `window` places ahead of
 * the one last asked for (a run that fails early reads little in vain); each result is awaited
 * by its index.
 */
function pool<T>(
  tasks: readonly (() => Promise<T>)[],
  limit: number,
  window: number,
): { get(i: number): Promise<T>; stop(): Promise<void> } {
  const results: Promise<T>[] = [];
  const settle: ((value: Promise<T>) => void)[] = [];
  for (let i = 0; i < tasks.length; i++) results.push(new Promise<T>((resolve) => settle.push(resolve)));
  for (const result of results) result.catch(() => {});
  const inflight = new Set<Promise<unknown>>();
  let next = 0;
  let running = 0;
  let asked = 0;
  let stopped = false;
  const launch = (): void => {
    while (!stopped && running < limit && next < tasks.length && next <= asked + window) {
      const i = next++;
      running += 1;
      const run = (tasks[i] as () => Promise<T>)();
      (settle[i] as (value: Promise<T>) => void)(run);
      const settled = run.then(
        () => {
          running -= 1;
          launch();
        },
        () => {
          // A failure is reported when its step's turn comes; later reads are not started.
          running -= 1;
          stopped = true;
        },
      );
      inflight.add(settled);
      void settled.then(() => inflight.delete(settled));
    }
  };
  launch();
  return {
    get(i) {
      asked = Math.max(asked, i);
      launch();
      return results[i] as Promise<T>;
    },
    /** Starts no more reads, and waits for the ones under way (no gcloud outlives the run). */
    async stop() {
      stopped = true;
      await Promise.all(inflight);
    },
  };
}

function single(output: unknown): unknown {
  return Array.isArray(output) && output.length === 1 ? output[0] : output;
}

/** Runs the steps in order, printing each one's outcome; returns how many changed anything. */
export async function applySteps(
  items: readonly PlanItem[],
  gcloud: Gcloud,
  progress: Progress,
  {
    mode = 'apply',
    readAhead = 2,
    window = 4,
    numbering = { before: 0, total: items.length },
  }: { mode?: Mode; readAhead?: number; window?: number; numbering?: Numbering } = {},
): Promise<Summary> {
  const reads = pool(
    items.map((item) =>
      typeof item === 'function' ? async () => undefined : () => gcloud.describe(item.describe),
    ),
    readAhead,
    window,
  );
  let changed = 0;
  try {
    for (const [i, item] of items.entries()) {
      const step = typeof item === 'function' ? item() : item;
      const ahead = reads.get(i);
      const found = typeof item === 'function' ? await gcloud.describe(step.describe) : await ahead;
      const commands = step.plan(found).map(guard);
      const label = `(${numbering.before + i + 1}/${numbering.total}) ${step.title}`;
      if (commands.length === 0) {
        progress.step(`${label}: ${mode === 'apply' ? 'up to date' : 'not there'}`);
        step.learn?.(single(found));
        continue;
      }
      const verb =
        mode === 'remove'
          ? ['deleting', 'deleted']
          : found === undefined
            ? ['creating', 'created']
            : ['updating', 'updated'];
      progress.step(`${label}: ${verb[0]}…`);
      const started = Date.now();
      for (const args of commands) await gcloud.run(args);
      if (step.learn !== undefined) step.learn(single(await gcloud.describe(step.describe)));
      progress.step(`${label}: ${verb[1]} in ${Math.round((Date.now() - started) / 1000)} s`);
      changed += 1;
    }
  } finally {
    await reads.stop();
  }
  return { changed, unchanged: items.length - changed, total: items.length };
}

/** The plan as the exact gcloud commands a run on an empty project makes, one per line. */
export function planText(
  items: readonly PlanItem[],
  gcloud: Gcloud,
  numbering: Numbering = { before: 0, total: items.length },
): string {
  const lines: string[] = [];
  for (const [i, item] of items.entries()) {
    const step = typeof item === 'function' ? item() : item;
    lines.push(
      `# (${numbering.before + i + 1}/${numbering.total}) ${step.title}; skipped when this finds it:`,
    );
    lines.push(`#   ${shellQuote(gcloud.command(step.describe))}`);
    for (const args of step.plan(undefined).map(guard)) lines.push(shellQuote(gcloud.command(args)));
  }
  return `${lines.join('\n')}\n`;
}
