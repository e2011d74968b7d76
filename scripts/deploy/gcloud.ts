/**
 * Running gcloud: one place that spawns it, always with the project, JSON output and no prompts,
 * each call bounded in time. gcloud's stderr is read into a clear error with a stable code; a
 * `describe` that finds nothing answers undefined instead of failing.
 *
 * Google Cloud is eventually consistent, and a first deploy meets it: an API enabled a moment ago
 * still answers 403 SERVICE_DISABLED for a while ("wait a few minutes for the action to
 * propagate"), and a service account created a moment ago is unknown to a bucket's IAM policy
 * (400 "Service account … does not exist."). Both are retried on SETTLE_DELAYS_MS for up to the
 * settle timeout, with a line each time; an API still disabled then has its own code.
 */
import { execa } from 'execa';
import { DeployError } from './errors.ts';

export type Argv = readonly string[];

export interface GcloudOptions {
  /** The gcloud executable: a name looked up on PATH, or a path. */
  readonly gcloud: string;
  readonly project: string;
  /** The environment gcloud sees (its CLOUDSDK_* settings, PATH, HOME). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Limit of one call; creating a Redis instance takes minutes, so it is generous. */
  readonly timeoutMs?: number;
  /** How long a call waits for Google to settle (SETTLE_DELAYS_MS); default 10 minutes. */
  readonly settleTimeoutMs?: number;
  readonly onRetry?: RetryNotice;
}

export interface Gcloud {
  readonly project: string;
  /** The whole command line that `run(args)` executes, executable first (what --dry-run prints). */
  command(args: Argv): string[];
  /** Runs gcloud and returns its JSON output (undefined when it printed none). */
  run(args: Argv): Promise<unknown>;
  /** Runs a `describe` (or a list): undefined when gcloud says the resource does not exist. */
  describe(args: Argv): Promise<unknown>;
}

/** What gcloud's stderr says went wrong. */
export interface GcloudProblem {
  /** The `ERROR: (gcloud.…) …` lines, without the prefix. */
  readonly message: string;
  readonly notFound: boolean;
  readonly denied: boolean;
  /** The API this call needs is disabled (or its enabling has not propagated yet). */
  readonly serviceDisabled?: string;
  /** A service account this call names is not known to IAM yet (or no longer). */
  readonly unknownAccount?: string;
  /** The organization policy constraint that refused this call (412 conditionNotMet). */
  readonly orgPolicy?: string;
  /** gcloud stopped waiting for a long-running operation that goes on (its waiter's limit). */
  readonly stillRunning?: boolean;
}

/** Pauses between attempts while Google settles; the last one repeats until the settle timeout. */
export const SETTLE_DELAYS_MS = [2_000, 4_000, 8_000, 15_000] as const;

/** Told before each retry: what is awaited and how long until the next attempt. */
export type RetryNotice = (what: string, delayMs: number) => void;

const NOT_FOUND = /was not found|\bNOT_FOUND\b|not found: 404|HTTPError 404/;
const DENIED =
  /PERMISSION_DENIED|UNAUTHENTICATED|Required '[^']+' permission|permission denied|does not have \S+ access|HTTPError 40[13]|: 40[13]\.|active account selected|Reauthentication/i;

/** Reads gcloud's stderr: its ERROR block (the lines from `ERROR:` on), or the last lines. */
export function parseGcloudError(stderr: string): GcloudProblem {
  const lines = stderr.split('\n').map((l) => l.trimEnd());
  const start = lines.findIndex((l) => l.startsWith('ERROR:'));
  const block = (start === -1 ? lines.slice(-5) : lines.slice(start)).filter((l) => l.trim() !== '');
  const message = block
    .join('\n')
    .replace(/^ERROR: /, '')
    .trim();
  const disabled =
    /\bSERVICE_DISABLED\b|has not been used in project \S+ before or it is disabled|accessNotConfigured/.test(
      message,
    )
      ? (/apis\/api\/([a-z0-9.-]+)\/overview/.exec(message)?.[1] ??
        /service: ([a-z0-9.-]+\.googleapis\.com)/.exec(message)?.[1] ??
        'an API')
      : undefined;
  const account = /Service account (\S+@\S+\.iam\.gserviceaccount\.com) does not exist/.exec(message)?.[1];
  const policy = /Constraint (constraints\/[A-Za-z0-9_.]+) violated/.exec(message)?.[1];
  // gcloud's waiter (api_lib/util/waiter.py), after 30 minutes by default.
  const stillRunning = /Operation \S+ has not finished in \d+ seconds/.test(message);
  return {
    message,
    notFound: disabled === undefined && account === undefined && NOT_FOUND.test(message),
    denied: disabled === undefined && DENIED.test(message),
    ...(disabled === undefined ? {} : { serviceDisabled: disabled }),
    ...(account === undefined ? {} : { unknownAccount: account }),
    ...(policy === undefined ? {} : { orgPolicy: policy }),
    ...(stillRunning ? { stillRunning } : {}),
  };
}

/** A command line as a shell would take it back: each word quoted only when it needs to be. */
export function shellQuote(words: readonly string[]): string {
  return words
    .map((w) => (/^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}

/**
 * gcloud's JSON output. A few commands print a line of text before it (`wait-until`: "Group is
 * stable"): the JSON is then what follows; output that holds none is returned as text.
 */
export function jsonOutput(stdout: string): unknown {
  const out = stdout.trim();
  if (out === '') return undefined;
  for (const start of [0, ...[...out.matchAll(/\n(?=[[{])/g)].map((m) => m.index + 1)]) {
    try {
      return JSON.parse(out.slice(start)) as unknown;
    } catch {
      // Not JSON from here: try the next line that opens a document.
    }
  }
  return out;
}

export function createGcloud({
  gcloud,
  project,
  env,
  // Longer than gcloud's own 30-minute wait for an operation, so that gcloud says so first.
  timeoutMs = 35 * 60_000,
  settleTimeoutMs = 10 * 60_000,
  onRetry = () => {},
}: GcloudOptions): Gcloud {
  const command = (args: Argv): string[] => [
    gcloud,
    ...args,
    `--project=${project}`,
    '--format=json',
    '--quiet',
  ];

  async function exec(args: Argv, describing: boolean): Promise<unknown> {
    const [file, ...rest] = command(args);
    const result = await execa(file as string, rest, {
      env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
    });
    const line = shellQuote(command(args));
    if (result.failed && result.exitCode === undefined && !result.timedOut) {
      const code = (result.cause as { code?: unknown } | undefined)?.code;
      throw new DeployError(
        'WSFLEET_GCLOUD_UNAVAILABLE',
        code === 'ENOENT'
          ? `\`${gcloud}\` was not found (PATH=${env.PATH ?? ''}): install the Google Cloud CLI or name it with --gcloud`
          : `\`${gcloud}\` could not be started (${String(code ?? result.cause)})`,
        { cause: result.cause },
      );
    }
    if (result.timedOut) {
      throw new DeployError(
        'WSFLEET_GCLOUD_FAILED',
        `gcloud did not finish within ${Math.round(timeoutMs / 1000)} s: ${line}`,
      );
    }
    if (result.exitCode !== 0) {
      const problem = parseGcloudError(result.stderr);
      if (describing && problem.notFound) return undefined;
      if (problem.serviceDisabled !== undefined || problem.unknownAccount !== undefined)
        throw new Unsettled(problem, line);
      if (problem.stillRunning === true)
        throw new DeployError(
          'WSFLEET_DEPLOY_PENDING',
          `${problem.message}\n  command: ${line}\n  (Google is still at it: run the same command again in a few minutes; it continues where this one stopped)`,
        );
      throw new DeployError(
        problem.denied ? 'WSFLEET_GCLOUD_DENIED' : 'WSFLEET_GCLOUD_FAILED',
        `${problem.message || `gcloud exited with ${result.exitCode}`}\n  command: ${line}${
          problem.denied
            ? '\n  (log in with `gcloud auth login`, and check the account has the roles this step needs)'
            : problem.orgPolicy === undefined
              ? ''
              : `\n  (the organization policy ${problem.orgPolicy} refuses it: see \`gcloud resource-manager org-policies describe ${problem.orgPolicy} --effective\`, and ask for an exception for this project)`
        }`,
      );
    }
    return jsonOutput(result.stdout);
  }

  /** exec, again while Google settles (the file comment). */
  async function settled(args: Argv, describing: boolean): Promise<unknown> {
    const deadline = Date.now() + settleTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await exec(args, describing);
      } catch (err) {
        if (!(err instanceof Unsettled)) throw err;
        const delay = SETTLE_DELAYS_MS[Math.min(attempt, SETTLE_DELAYS_MS.length - 1)] as number;
        if (Date.now() + delay > deadline) throw err.final(Math.round(settleTimeoutMs / 1000));
        onRetry(err.what(), delay);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  return {
    project,
    command,
    run: (args) => settled(args, false),
    describe: (args) => settled(args, true),
  };
}

/** A failure that goes away once Google has settled. */
class Unsettled extends Error {
  constructor(
    readonly problem: GcloudProblem,
    readonly line: string,
  ) {
    super(problem.message);
  }

  what(): string {
    const { serviceDisabled, unknownAccount } = this.problem;
    return serviceDisabled !== undefined
      ? `SERVICE_DISABLED: ${serviceDisabled} is not enabled yet (enabling takes a few minutes to propagate)`
      : `the service account ${unknownAccount} is not known to IAM yet (new accounts take a while to propagate)`;
  }

  final(seconds: number): DeployError {
    const { serviceDisabled, message } = this.problem;
    if (serviceDisabled !== undefined)
      return new DeployError(
        'WSFLEET_GCLOUD_SERVICE_DISABLED',
        `${message}\n  command: ${this.line}\n  (still disabled after ${seconds} s: enable it with \`gcloud services enable ${serviceDisabled} --project=…\` or in the console, wait a few minutes, and run the command again; it continues)`,
      );
    return new DeployError(
      'WSFLEET_GCLOUD_FAILED',
      `${message}\n  command: ${this.line}\n  (still unknown after ${seconds} s; run the command again, it continues)`,
    );
  }
}
