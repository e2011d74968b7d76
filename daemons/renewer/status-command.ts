/**
 * `wsfleet renewer status [--json]`: each certificate as the store has it. Exits 1 when any is
 * not on track (on-track.ts), so a script or a probe can use it.
 */
import type { Command } from '../shared/command.ts';
import { jsonOption, parseCommand } from '../shared/config.ts';
import { openCertStore, renewerOptions, storeOptions } from './config.ts';
import { formatStatus, readStatus } from './status.ts';

const statusOptions = {
  ...storeOptions,
  cert: renewerOptions.cert,
  json: jsonOption,
} as const;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet renewer status [flags]',
    'Show each certificate (the configured ones, or all in the store): names, serial, validity, next renewal, last error.',
    statusOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const store = openCertStore(config);
  const statuses = await readStatus(store, config.cert);
  process.stdout.write(config.json ? `${JSON.stringify(statuses, null, 2)}\n` : formatStatus(statuses));
  return statuses.every((s) => s.onTrack) ? 0 : 1;
};
