/**
 * What the deploy commands share: where they write (injectable, so tests read it), the opening
 * (flags, then the fleet config, then a gcloud runner for its project), and how a failure with
 * a code is reported (exit 1; configuration problems are thrown on to the CLI, which exits 78).
 */
import type { Config, Options } from '../../daemons/shared/config.ts';
import { parseCommand } from '../../daemons/shared/config.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import { loadFleetConfig } from './fleet-file.ts';
import { createGcloud, type Gcloud } from './gcloud.ts';
import { type FleetNames, fleetNames } from './names.ts';
import { createProgress, type Progress } from './progress.ts';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Reads one line from the person at the terminal; undefined without one. */
  readonly ask?: (question: string) => Promise<string>;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export interface Fleet<O extends Options> {
  readonly flags: Config<O>;
  readonly config: FleetConfig;
  readonly names: FleetNames;
  readonly gcloud: Gcloud;
  readonly progress: Progress;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Parses the flags and loads the fleet config; undefined after printing --help. */
export async function openFleet<O extends Options & { config: unknown; gcloud: unknown }>(
  usage: string,
  summary: string,
  options: O,
  argv: readonly string[],
  env: Env,
  io: Io,
): Promise<Fleet<O> | undefined> {
  const parsed = parseCommand(usage, summary, options, argv, env);
  if (parsed === undefined) return undefined;
  const flags = parsed.config;
  const config = await loadFleetConfig(String(flags.config));
  const progress = createProgress(io.out);
  return {
    flags,
    config,
    names: fleetNames(config),
    gcloud: createGcloud({
      gcloud: String(flags.gcloud),
      project: config.project,
      env,
      // A call may wait (creating Redis takes minutes; `wait-until` waits --wait-timeout).
      timeoutMs: Math.max(30 * 60, Number(flags.waitTimeout ?? 0) + 120) * 1000,
      settleTimeoutMs: Number(flags.settleTimeout ?? 600) * 1000,
      onRetry: (what, delayMs) =>
        progress.step(`waiting: ${what}; trying again in ${Math.round(delayMs / 1000)} s`),
    }),
    progress,
  };
}

/** Runs a command's body: a DeployError is printed with its code and exits 1. */
export async function reportFailures(name: string, io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof DeployError) {
      io.err(`wsfleet ${name}: ${err.code}: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
}
