/**
 * Running packer: one place that spawns it, with its phone-home switched off (the build host may
 * have no route to it, and it would only delay each command) and every run bounded in time.
 */
import { execa, type ResultPromise } from 'execa';
import { ImageError } from './errors.ts';

/** Added to packer's environment: no version check against HashiCorp's servers. */
export const PACKER_ENV: Readonly<Record<string, string>> = { CHECKPOINT_DISABLE: '1' };

export interface PackerCommand {
  /** The packer executable: a name looked up on PATH, or a path. */
  readonly packer: string;
  readonly cwd?: string;
  /** The environment packer sees; process.env when unset. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface PackerResult {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

type Spawned = ResultPromise<{ reject: false; stdin: 'ignore' }>;

/** Starts packer; the caller awaits the result or reads stdout as it comes. */
export function spawnPacker(
  cmd: PackerCommand,
  args: readonly string[],
  {
    timeoutMs,
    cancelSignal,
    graceMs = 10_000,
  }: { timeoutMs: number; cancelSignal?: AbortSignal; graceMs?: number },
): Spawned {
  return execa(cmd.packer, args, {
    reject: false,
    stdin: 'ignore',
    cwd: cmd.cwd,
    env: { ...(cmd.env ?? process.env), ...PACKER_ENV },
    extendEnv: false,
    timeout: timeoutMs,
    // SIGTERM first: packer then deletes what it created (the build VM, its disk and key) before
    // it exits. SIGKILL only if that cleanup itself hangs.
    forceKillAfterDelay: graceMs,
    ...(cancelSignal === undefined ? {} : { cancelSignal }),
  }) as Spawned;
}

/** Maps a failure to start packer to WSFLEET_PACKER_UNAVAILABLE, naming the command and PATH. */
export function notRunnable(cmd: PackerCommand, cause: unknown): ImageError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const path = (cmd.env ?? process.env).PATH ?? '';
  const why =
    code === 'ENOENT'
      ? `\`${cmd.packer}\` was not found (PATH=${path})`
      : code === 'EACCES'
        ? `\`${cmd.packer}\` is not executable`
        : `\`${cmd.packer}\` could not be started (${String(code ?? cause)})`;
  return new ImageError(
    'WSFLEET_PACKER_UNAVAILABLE',
    `${why}. Install packer (Debian 12: apt-get install packer) or name it with --packer.`,
    { cause },
  );
}

/** Runs packer to completion and collects its output. */
export async function runPacker(
  cmd: PackerCommand,
  args: readonly string[],
  { timeoutMs }: { timeoutMs: number },
): Promise<PackerResult> {
  const result = await spawnPacker(cmd, args, { timeoutMs });
  if (result.failed && result.exitCode === undefined && !result.timedOut) {
    throw notRunnable(cmd, result.cause);
  }
  return {
    exitCode: result.exitCode,
    stdout: result.stdout,
    stderr: result.stderr,
    timedOut: result.timedOut,
    durationMs: result.durationMs,
  };
}
