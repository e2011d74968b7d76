/**
 * `packer build -machine-readable`: streams the records into events as they come, keeps the raw
 * lines (the full log), and decides the outcome. Exit 0 is not success by itself: packer 1.6
 * exits 0 when `-only` matched no build and nothing was built, so a build succeeds only when the
 * selected build produced an artifact.
 */

import { ImageError } from './errors.ts';
import {
  type Artifact,
  cleanUiLine,
  createMachineReader,
  type PackerEvent,
  type PackerOutcome,
} from './machine-readable.ts';
import { varArgs } from './packer-check.ts';
import { notRunnable, type PackerCommand, spawnPacker } from './packer-process.ts';

export interface BuildRun {
  readonly cmd: PackerCommand;
  readonly templateDir: string;
  /** The build to run, `-only` (e.g. `app.null.app`). */
  readonly only: string;
  readonly vars: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** How long packer gets to clean up (delete the build VM) after SIGTERM before SIGKILL. */
  readonly graceMs?: number;
  readonly cancelSignal?: AbortSignal;
  readonly onEvent?: (event: PackerEvent) => void;
  /** Every raw stdout and stderr line, for the log file. */
  readonly onLine?: (line: string) => void;
  /** Where the full log is, for error messages. */
  readonly logPath?: string;
}

export interface BuildResult extends PackerOutcome {
  /** The artifact of the selected build. */
  readonly artifact: Artifact;
  readonly durationMs: number;
}

/**
 * What went wrong, in a few lines: each build's final error (packer's words, e.g. "Script exited
 * with non-zero exit status: 1"), then the last error output before packer's own summary, which
 * is where a provisioner says why.
 */
export function summarize(outcome: PackerOutcome, stderr: string, causeLines = 5): string {
  const finals = outcome.buildErrors.map((e) => `${e.build}: ${e.message}`);
  const ui = outcome.uiErrors.flatMap((e) => e.split('\n')).map((l) => cleanUiLine(l).text);
  const end = ui.findIndex((l) => /^Build '.*' errored/.test(l) || /^Some builds didn't complete/.test(l));
  const cause = (end === -1 ? ui : ui.slice(0, end)).filter((l) => l.trim() !== '').slice(-causeLines);
  const lines: string[] = [...finals];
  if (cause.length > 0) {
    lines.push(finals.length > 0 ? 'Last error output:' : 'Error output:', ...cause.map((l) => `  ${l}`));
  }
  if (lines.length === 0 && stderr.trim() !== '') lines.push(...stderr.trim().split('\n').slice(-causeLines));
  return lines.map((l) => `  ${l}`).join('\n');
}

export async function runBuild(run: BuildRun): Promise<BuildResult> {
  const args = ['build', '-machine-readable', `-only=${run.only}`, ...varArgs(run.vars), run.templateDir];
  const reader = createMachineReader();
  const subprocess = spawnPacker(run.cmd, args, {
    timeoutMs: run.timeoutMs,
    graceMs: run.graceMs ?? 300_000,
    ...(run.cancelSignal === undefined ? {} : { cancelSignal: run.cancelSignal }),
  });
  const stderrLines: string[] = [];
  const readStdout = (async () => {
    for await (const line of subprocess.iterable({ from: 'stdout' })) {
      run.onLine?.(line);
      for (const event of reader.push(line)) run.onEvent?.(event);
    }
  })();
  const readStderr = (async () => {
    for await (const line of subprocess.iterable({ from: 'stderr' })) {
      run.onLine?.(line);
      stderrLines.push(line);
    }
  })();
  const result = await subprocess;
  await Promise.allSettled([readStdout, readStderr]);
  if (
    result.failed &&
    result.exitCode === undefined &&
    !result.timedOut &&
    !result.isCanceled &&
    result.signal === undefined
  ) {
    throw notRunnable(run.cmd, result.cause);
  }
  const outcome = reader.outcome();
  const stderr = stderrLines.join('\n');
  const log = run.logPath === undefined ? '' : `\nFull log: ${run.logPath}`;
  if (result.timedOut || result.isCanceled || result.exitCode !== 0) {
    const why = result.timedOut
      ? `ran past ${run.timeoutMs >= 1000 ? `${Math.round(run.timeoutMs / 1000)} s` : `${run.timeoutMs} ms`} and was stopped`
      : result.isCanceled
        ? 'was interrupted'
        : result.exitCode === undefined
          ? `was killed (${result.signal ?? 'signal'})`
          : `failed (exit ${result.exitCode})`;
    const cleanup =
      result.isForcefullyTerminated === true
        ? '\npacker did not finish cleaning up: look for a leftover packer-* instance and disk in the project.'
        : '';
    throw new ImageError(
      'WSFLEET_IMAGE_BUILD_FAILED',
      `packer build ${run.only} ${why}:\n${summarize(outcome, stderr) || '  (packer printed no error)'}${cleanup}${log}`,
    );
  }
  const artifact = outcome.artifacts.find((a) => a.build === run.only && a.id !== undefined);
  if (artifact === undefined) {
    const others = outcome.artifacts.map((a) => a.build);
    throw new ImageError(
      'WSFLEET_IMAGE_NO_ARTIFACT',
      `packer build exited 0 but ${run.only} produced no artifact: ${
        others.length > 0
          ? `only ${others.join(', ')} did`
          : '-only matched no build of the template, or the build made nothing'
      }. Nothing was built.${log}`,
    );
  }
  return { ...outcome, artifact, durationMs: result.durationMs };
}
