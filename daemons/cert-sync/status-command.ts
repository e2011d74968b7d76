import { openCertStore } from '../shared/cert-options.ts';
import type { Command } from '../shared/command.ts';
import { jsonOption, parseCommand } from '../shared/config.ts';
import { certSyncOptions } from './config.ts';
import { liveNames } from './install.ts';
import { servedCertificate } from './nginx.ts';
import { readSyncState } from './state-file.ts';
import { formatStatus, readStatus } from './status.ts';

const statusOptions = {
  cert: certSyncOptions.cert,
  store: certSyncOptions.store,
  gcsEndpoint: certSyncOptions.gcsEndpoint,
  dir: certSyncOptions.dir,
  httpsPort: certSyncOptions.httpsPort,
  verifyHost: certSyncOptions.verifyHost,
  json: jsonOption,
} as const;

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet cert-sync status [flags]',
    'Show each certificate: installed serial and expiry, the store one, the one nginx serves, last sync and refusal.',
    statusOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const state = await readSyncState(config.dir);
  const names =
    config.cert.length > 0
      ? config.cert.map((c) => c.name)
      : [...new Set([...(await liveNames(config.dir)), ...Object.keys(state.certificates)])].sort();
  const statuses = await readStatus(names, {
    dir: config.dir,
    store: openCertStore(config),
    state,
    served: (name) =>
      servedCertificate({
        host: config.verifyHost,
        port: config.httpsPort,
        servername: name,
        timeoutMs: 3_000,
      }),
  });
  process.stdout.write(config.json ? `${JSON.stringify(statuses, null, 2)}\n` : formatStatus(statuses));
  return 0;
};
