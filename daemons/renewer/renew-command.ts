/**
 * `wsfleet renewer renew <name…> [--force] [--ignore-rate-guard] [--staging] [--dry-run]`: renews
 * now. A running daemon is asked through its control socket (it holds port 80 and the schedule);
 * without one, this command takes the issuance lease and answers the challenges itself. Exits 0
 * only when every named certificate is in the store (or, with --dry-run, every check passed); 75
 * when a backoff or the rate guard held a certificate back and nothing else failed.
 */
import { z } from 'zod';
import type { Command } from '../shared/command.ts';
import { option, parseCommand } from '../shared/config.ts';
import { ConfigError, EXIT } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import { createChallengeServer } from './challenge-server.ts';
import {
  type CertificateSpec,
  crossProblems,
  directoryUrl,
  nameProblem,
  openCertStore,
  renewerOptions,
} from './config.ts';
import { sendRenew } from './control.ts';
import { assembleRenewer } from './daemon.ts';
import { createRenewerMetrics } from './metrics.ts';
import type { Outcome, ProgressEvent } from './renewer.ts';

const renewOptions = {
  ...renewerOptions,
  force: option({
    schema: z.boolean().default(false),
    description: 'Renew even when the certificate is not due',
    expected: 'true or false',
    kind: 'flag',
  }),
  ignoreRateGuard: option({
    schema: z.boolean().default(false),
    description: 'Issue even when the rate guard refuses (it counts finalize calls per 7 days)',
    expected: 'true or false',
    kind: 'flag',
  }),
  dryRun: option({
    schema: z.boolean().default(false),
    description: 'Check everything (store, lease, self-check) but place no order',
    expected: 'true or false',
    kind: 'flag',
  }),
} as const;

function printProgress(event: ProgressEvent): void {
  const { name, step, ...fields } = event;
  const details = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  process.stdout.write(`${name}: ${step}${details ? ` ${details}` : ''}\n`);
}

function printOutcome(outcome: Outcome): void {
  switch (outcome.result) {
    case 'renewed':
      process.stdout.write(
        `${outcome.name}: renewed, serial ${outcome.serial}, valid until ${outcome.notAfter}\n`,
      );
      return;
    case 'not_due':
      process.stdout.write(`${outcome.name}: not due until ${outcome.due} (use --force to renew anyway)\n`);
      return;
    case 'locked':
      process.stdout.write(`${outcome.name}: another renewer is issuing it right now; try again later\n`);
      return;
    case 'dry_run':
      process.stdout.write(`${outcome.name}: dry run: ${outcome.reason}\n`);
      return;
    case 'backoff':
      process.stdout.write(
        `${outcome.name}: NOT TRIED: the last attempt failed with ${outcome.code}: ${outcome.message}; ${outcome.retryAt ? `next try at ${outcome.retryAt}` : 'a permanent refusal, not retried until the settings change'} (use --force to try now)\n`,
      );
      return;
    case 'rate_limited':
      process.stdout.write(
        `${outcome.name}: REFUSED by the rate guard (WSFLEET_RATE_GUARD): ${outcome.message}. --ignore-rate-guard overrides it; Let's Encrypt allows 5 duplicate certificates a week.\n`,
      );
      return;
    case 'failed':
      process.stdout.write(
        `${outcome.name}: FAILED ${outcome.code}: ${outcome.message}${outcome.retryAt ? ` (daemon retries at ${outcome.retryAt})` : ''}\n`,
      );
  }
}

const OK_RESULTS = new Set<Outcome['result']>(['renewed', 'not_due', 'dry_run']);
const HELD_RESULTS = new Set<Outcome['result']>(['backoff', 'rate_limited']);

/** 0 when every certificate is fine; 75 when some were only held back; 1 when any failed. */
export function exitCode(outcomes: readonly Outcome[], expected: number): number {
  if (outcomes.length !== expected) return EXIT.FAILURE;
  if (outcomes.every((o) => OK_RESULTS.has(o.result))) return EXIT.OK;
  if (outcomes.every((o) => OK_RESULTS.has(o.result) || HELD_RESULTS.has(o.result))) return EXIT.TEMPFAIL;
  return EXIT.FAILURE;
}

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet renewer renew <name…> [flags]',
    'Renew the named certificates now, through the running renewer or by itself.',
    renewOptions,
    argv,
    env,
    { maxPositionals: 100 },
  );
  if (parsed === undefined) return 0;
  const { config, positionals } = parsed;
  const problems = crossProblems(config);
  const names = positionals.map((n) => n.toLowerCase());
  if (names.length === 0) problems.push('Name at least one certificate to renew');
  for (const name of names) {
    const problem = nameProblem(name);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const explicitDirectory =
    config.staging || config.directoryUrl !== undefined ? directoryUrl(config) : undefined;

  const viaDaemon = await sendRenew(
    config.controlSocket,
    {
      names,
      force: config.force,
      ignoreRateGuard: config.ignoreRateGuard,
      dryRun: config.dryRun,
      ...(explicitDirectory === undefined ? {} : { directoryUrl: explicitDirectory }),
    },
    (line) => {
      if (line.type !== 'progress') return;
      const { type: _type, ...event } = line;
      printProgress(event);
    },
  );
  let outcomes: readonly Outcome[];
  if (viaDaemon !== undefined) {
    outcomes = viaDaemon;
  } else {
    process.stdout.write('No renewer daemon is running here; renewing directly.\n');
    const log = createLogger({
      name: 'wsfleet-renewer',
      level: config.logLevel === 'info' ? 'warn' : config.logLevel,
    });
    const store = openCertStore(config);
    const challenges = createChallengeServer({
      host: config.httpHost,
      port: config.httpPort,
      lookup: (token) => store.challenge(token),
      log,
    });
    await challenges.start();
    try {
      const { renewer } = assembleRenewer(config, {
        store,
        challenges,
        log,
        metrics: createRenewerMetrics(),
      });
      const results: Outcome[] = [];
      for (const name of names) {
        const spec: CertificateSpec = config.cert.find((c) => c.name === name) ?? {
          name,
          domains: (await store.current(name))?.certificate.domains ?? [name],
        };
        results.push(
          await renewer.check(spec, {
            force: config.force,
            ignoreRateGuard: config.ignoreRateGuard,
            dryRun: config.dryRun,
            progress: printProgress,
          }),
        );
      }
      outcomes = results;
    } finally {
      await challenges.close();
    }
  }
  for (const outcome of outcomes) printOutcome(outcome);
  return exitCode(outcomes, names.length);
};
