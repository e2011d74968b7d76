/** `wsfleet init`: writes a commented fleet config to start from. */
import { access, writeFile } from 'node:fs/promises';
import type { Command } from '../../daemons/shared/command.ts';
import { parseCommand } from '../../daemons/shared/config.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { type Io, processIo } from './command-io.ts';
import { initOptions } from './deploy-options.ts';
import { FleetConfigError } from './errors.ts';
import { parseFleetText, validateFleet } from './fleet-file.ts';

const USAGE =
  'wsfleet init [--config wsfleet.yaml] [--project ID] [--region REGION] [--domain NAME] [--email ADDRESS]';
const SUMMARY =
  'Write a commented fleet config (wsfleet.yaml) for `wsfleet deploy`, filled with the values given.';

export interface InitValues {
  readonly project: string;
  readonly region: string;
  readonly domain: string;
  readonly email: string;
}

/** The commented YAML of a fleet config. */
export function fleetTemplate({ project, region, domain, email }: InitValues): string {
  return `# wsfleet fleet config: what \`wsfleet deploy\` creates, \`wsfleet rollout\` updates and
# \`wsfleet teardown\` deletes. Every resource name starts with \`name\`.
name: wsfleet
project: ${project}
region: ${region}
# The app group spreads over these zones; the renewer runs in the first.
zones: [${region}-a, ${region}-b, ${region}-c]

# Each certificate is a list of names; the first names it. Point each name at the load
# balancer's address (the deploy prints the DNS records).
certificates:
  - [${domain}]

acme:
  email: ${email}
  # staging (Let's Encrypt's test CA: untrusted certificates, generous limits) until the DNS
  # records are right; then production. An https:// ACME directory URL also works.
  directory: staging

# Holds the certificates. Only the renewer's account may write it, only the app VMs' may read it.
bucket: ${project}-wsfleet-certs

network:
  # The subnet of the fleet's own VPC network; the renewer gets its third address.
  range: 10.20.0.0/24

app:
  machineType: e2-small
  size: 3
  # image: wsfleet-app-…   # default: the newest \`wsfleet images build app\` for this project
  # allowedOrigins: [https://app.example.com]
  rollout:
    # Regional group: each is 0 or at least the number of zones. maxSurge defaults to one per zone.
    maxUnavailable: 0
    replacement: substitute

renewer:
  machineType: e2-small
  # image: wsfleet-renewer-…

# A Memorystore instance the deploy creates (basic tier, 1 GB; always TLS and AUTH), or an
# existing one by URL (the host must be an IP address on a private network):
# \`redis: { url: rediss://10.0.0.3:6378 }\`. tier: basic or standard (a replica, failover).
# persistence: none (a restart loses the history; clients are told) or rdb-1h, rdb-6h, rdb-12h, rdb-24h.
redis:
  create:
    tier: basic
    sizeGb: 1
    version: redis_7_0
    persistence: none

loadBalancer:
  # NONE, CLIENT_IP, CLIENT_IP_PROTO or CLIENT_IP_PORT_PROTO: a passthrough load balancer takes no other.
  sessionAffinity: CLIENT_IP
  # Seconds a leaving VM keeps its connections while its app closes them (code 1012).
  drainingSeconds: 30

# Closed by default: the deploy makes the token secret and the API key in Secret Manager
# (wsfleet-token-secret, wsfleet-api-key), readable by the app VMs' account only. Mint tokens with
# \`wsfleet app token --token-secret-from gcp:${project}/wsfleet-token-secret\`.
auth:
  # Whether WebSocket clients may publish; off: only backends publish, with the API key.
  clientPublish: false
`;
}

export async function init(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
): Promise<number> {
  const parsed = parseCommand(USAGE, SUMMARY, initOptions, argv, env);
  if (parsed === undefined) return EXIT.OK;
  const flags = parsed.config;
  const yaml = fleetTemplate({
    project: flags.project ?? 'my-project',
    region: flags.region ?? 'europe-west4',
    domain: flags.domain ?? 'ws.example.com',
    email: flags.email ?? 'ops@example.com',
  });
  const document = parseFleetText(yaml, 'wsfleet.yaml');
  // JSON has no comments: a .json file gets the same settings without them.
  const text = flags.config.endsWith('.json') ? `${JSON.stringify(document, null, 2)}\n` : yaml;
  // The values given go through the same checks as a deploy's.
  const { problems } = validateFleet(document);
  if (problems.length > 0) throw new FleetConfigError(problems);
  const exists = await access(flags.config).then(
    () => true,
    () => false,
  );
  if (exists && !flags.force) {
    io.err(`wsfleet init: ${flags.config} exists; --force overwrites it\n`);
    return EXIT.FAILURE;
  }
  await writeFile(flags.config, text);
  io.out(`Wrote ${flags.config}: review it, then \`wsfleet deploy --dry-run\` and \`wsfleet deploy\`\n`);
  return EXIT.OK;
}

export const run: Command = (argv, env) => init(argv, env);
