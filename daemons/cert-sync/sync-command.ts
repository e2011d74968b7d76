/**
 * `wsfleet cert-sync sync`: one full sync, the daemon's own code path, then exit: 0 when every
 * certificate is installed (and served) or already current, 1 otherwise, 78 for bad flags.
 */
import type { Command } from '../shared/command.ts';
import { EXIT } from '../shared/errors.ts';
import type { CertOutcome } from './sync.ts';
import { wireCertSync } from './wire.ts';

function describe(c: CertOutcome): string {
  switch (c.result) {
    case 'installed':
      return c.served === 'ok'
        ? `installed serial ${c.serial}; nginx serves it`
        : `installed serial ${c.serial}, but nginx ${c.served === 'old_serial' ? 'still serves the old one' : 'did not answer'}`;
    case 'current':
      return `already current (serial ${c.serial})`;
    case 'unchanged':
      return 'unchanged';
    case 'missing':
      return 'not in the store yet (nginx serves HTTP only)';
    case 'refused':
      return `refused (${c.reason}${c.serial === undefined ? '' : `, serial ${c.serial}`}): ${c.detail}; the last good one stays`;
    case 'failed':
      return `failed (${c.code}): ${c.message}`;
  }
}

export const run: Command = async (argv, env) => {
  // Logs go to stderr: stdout carries the one line per certificate a person or script reads.
  const wired = await wireCertSync(
    'wsfleet cert-sync sync [flags]',
    'Sync the certificates from the store once, as the daemon does, and exit (0: all installed or current).',
    argv,
    env,
    { logDestination: process.stderr },
  );
  if (wired === undefined) return 0;
  const { config, certSync } = wired;
  try {
    const report = await certSync.syncOnce();
    for (const c of report.certificates) process.stdout.write(`${c.name}: ${describe(c)}\n`);
    if (!report.reachedStore) process.stdout.write(`The store ${config.store} could not be reached.\n`);
    return report.ok ? EXIT.OK : EXIT.FAILURE;
  } finally {
    await certSync.close();
  }
};
