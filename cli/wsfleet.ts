/**
 * `wsfleet`: one CLI, a subcommand per daemon and per job. The entry point sits above every part
 * of the product (daemons, images, deploy, lab): it imports them, none of them imports it. Each
 * command module is loaded only when named, so `wsfleet app run` never loads the renewer's
 * dependencies.
 */
import type { Command } from '../daemons/shared/command.ts';
import { ConfigError, EXIT } from '../daemons/shared/errors.ts';

interface Entry {
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: Record<string, Entry> = {
  'app run': {
    summary: 'Run the WebSocket channel server',
    load: async () => (await import('../daemons/app/main.ts')).run,
  },
  'renewer run': {
    summary: 'Run the ACME renewer daemon',
    load: async () => (await import('../daemons/renewer/main.ts')).run,
  },
  'renewer renew': {
    summary: 'Renew certificates now (through the running daemon, or by itself)',
    load: async () => (await import('../daemons/renewer/renew-command.ts')).run,
  },
  'renewer status': {
    summary: 'Show each certificate in the store: names, serial, validity, next renewal, last error',
    load: async () => (await import('../daemons/renewer/status-command.ts')).run,
  },
  'cert-sync run': {
    summary:
      'Run the certificate sync daemon: install the store certificates for nginx and keep them current',
    load: async () => (await import('../daemons/cert-sync/main.ts')).run,
  },
  'cert-sync sync': {
    summary: 'Sync the certificates from the store once (exit 0: all installed or current)',
    load: async () => (await import('../daemons/cert-sync/sync-command.ts')).run,
  },
  'cert-sync status': {
    summary: 'Show each certificate: installed, in the store, served by nginx, last sync and refusal',
    load: async () => (await import('../daemons/cert-sync/status-command.ts')).run,
  },
  'app fetch-secrets': {
    summary: "Write the app's secrets from Secret Manager to a root-only env file (app VM boot)",
    load: async () => (await import('../daemons/app/fetch-secrets-command.ts')).run,
  },
  'app token': {
    summary: 'Print a signed connection token for --token-secret',
    load: async () => (await import('../daemons/app/token-command.ts')).run,
  },
  'app redis-auth': {
    summary: "Fetch the Memorystore instance's AUTH string for the app (root, at boot)",
    load: async () => (await import('../daemons/app/redis-auth-command.ts')).run,
  },
  'images build': {
    summary: 'Build the VM image of a role (app or renewer) with packer, or dry-run it here',
    load: async () => (await import('../images/build/build-command.ts')).run,
  },
  init: {
    summary: 'Write a commented fleet config (wsfleet.yaml) for deploy',
    load: async () => (await import('../scripts/deploy/init-command.ts')).run,
  },
  deploy: {
    summary: 'Create or update the cluster on Google Cloud with gcloud (--dry-run prints the commands)',
    load: async () => (await import('../scripts/deploy/deploy-command.ts')).run,
  },
  rollout: {
    summary: 'Roll the groups to new images: new templates, then rolling updates',
    load: async () => (await import('../scripts/deploy/rollout-command.ts')).run,
  },
  status: {
    summary: 'Show the groups, VM health, images and the certificates served, with their expiry',
    load: async () => (await import('../scripts/deploy/status-command.ts')).run,
  },
  teardown: {
    summary: 'Delete the cluster in reverse order (asks first; keeps the bucket unless --delete-data)',
    load: async () => (await import('../scripts/deploy/teardown-command.ts')).run,
  },
  'images validate': {
    summary: 'Check the image templates: packer fmt -check and packer validate',
    load: async () => (await import('../images/build/validate-command.ts')).run,
  },
  'lab up': {
    summary:
      'Bring up the whole cluster on this machine (nspawn VMs, load balancer, Pebble, Redis, GCS stand-in)',
    load: async () => (await import('../scripts/lab/command.ts')).up,
  },
  'lab down': {
    summary: 'Remove every machine, process, namespace and file of a lab',
    load: async () => (await import('../scripts/lab/command.ts')).down,
  },
  'lab status': {
    summary: "Show a lab's machines, units, served certificates and load balancer health",
    load: async () => (await import('../scripts/lab/command.ts')).status,
  },
  'lab rollout': {
    summary: 'Rolling update of the lab app VMs onto the current app image (drain, replace, one by one)',
    load: async () => (await import('../scripts/lab/command.ts')).rollout,
  },
  'lab forward': {
    summary: "Forward a port of this machine's 127.0.0.1 to the lab's load balancer",
    load: async () => (await import('../scripts/lab/command.ts')).forward,
  },
  'lab gcs-double': {
    summary: 'Serve the GCS JSON API stand-in of the lab (in memory)',
    load: async () => (await import('../scripts/lab/gcs-double/command.ts')).run,
  },
  'lab google-double': {
    summary: "Serve the lab's metadata server and Secret Manager stand-in (values from files)",
    load: async () => (await import('../scripts/lab/google-double/command.ts')).run,
  },
  'lab forwarder': {
    summary: 'Internal: the far end of a lab port forward (started by the lab, over IPC)',
    load: async () => (await import('../scripts/lab/forwarder-command.ts')).run,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: wsfleet <command> [flags]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`),
    '',
    'Run `wsfleet <command> --help` for the flags of a command.',
    '',
  ].join('\n');
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  // Two-word commands (`app run`) first, then one-word ones (`deploy`).
  const words = COMMANDS[argv.slice(0, 2).join(' ')] !== undefined ? 2 : 1;
  const name = argv.slice(0, words).join(' ');
  const entry = COMMANDS[name];
  if (entry === undefined) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      process.stdout.write(usage());
      return EXIT.OK;
    }
    process.stderr.write(
      `wsfleet: unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}\n\n${usage()}`,
    );
    return EXIT.USAGE;
  }
  try {
    const command = await entry.load();
    return await command(argv.slice(words), env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wsfleet ${name}: ${err.message}\n`);
      return EXIT.CONFIG;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2), process.env);
// A one-shot command is done: exit now rather than wait for idle keep-alive sockets to time
// out. stdout and stderr are synchronous for files and pipes on Linux, so nothing is lost.
if (code !== undefined) process.exit(code);
