/**
 * User-data (#cloud-config) for wsfleet's VMs. It only writes the daemons' settings, as
 * /etc/wsfleet/<daemon>.env, and enables the units the image carries
 * (images/systemd/): no script, no package, nothing generated on the VM.
 *
 * Each value goes through the daemon's own option schema (the one its `--help` documents), so a
 * VM is never created with a setting its daemon would refuse at start; every problem is reported
 * at once. The env files are root's, 0600: systemd reads them before it drops privileges, so no
 * daemon user needs to, and they may hold secrets (the Redis password, the API key).
 */
import { BlockList, isIP } from 'node:net';
import { appOptions } from '../daemons/app/config.ts';
import { certSyncOptions, crossProblems as certSyncProblems } from '../daemons/cert-sync/config.ts';
import { renewerOptions, crossProblems as renewerProblems } from '../daemons/renewer/config.ts';
import { type Config, type Options, parseConfig } from '../daemons/shared/config.ts';
import { ConfigError } from '../daemons/shared/errors.ts';
import { openStore } from '../daemons/shared/store/open-store.ts';
import { BOOT_FETCH_KEYS, bootFetchFiles, bootFetchUnits, commandOf } from './boot-fetch.ts';
import { formatEnvFile } from './env-file.ts';
import { Collector, type EnvFile, show } from './env-values.ts';
import { type YamlValue, yamlDocument } from './yaml.ts';

export type Role = 'app' | 'renewer';

type LogLevel = Config<typeof appOptions>['logLevel'];

/** What both roles take. */
export interface CommonValues {
  /** The certificates, each a list of names; the first name names it (`--cert a.example,b.example`). */
  readonly certs: readonly (readonly string[])[];
  /** Where the renewer keeps them and cert-sync reads them: `gs://bucket[/prefix]`. */
  readonly store: string;
  /** GCS JSON API endpoint (a lab's stand-in); unset: Google's. */
  readonly gcsEndpoint?: string;
  /** Let's Encrypt staging: the renewer orders there, cert-sync accepts its roots. */
  readonly staging?: boolean;
  readonly logLevel?: LogLevel;
}

/** An app VM: the app daemon and cert-sync (nginx is configured by cert-sync). */
export interface AppValues extends CommonValues {
  /** The renewer's challenge server, `host:port`, where nginx forwards ACME challenges. */
  readonly renewer: string;
  /**
   * `redis://` or `rediss://` URL whose host is an IP address on loopback or a private network
   * (APP_REDIS_NETWORKS): wsfleet-app.service may reach nothing else, not even a DNS server.
   */
  readonly redisUrl?: string;
  /** The CAs of Redis's TLS certificate (PEM, Memorystore's serverCaCerts): written as REDIS_CA_FILE. */
  readonly redisCaPem?: string;
  /**
   * `projects/P/locations/R/instances/I`: wsfleet-app-redis-auth.service fetches this Memorystore
   * instance's AUTH string at boot, so the string is never in the user-data.
   */
  readonly redisAuthFrom?: string;
  /**
   * Secret Manager secrets (`gcp:PROJECT/SECRET[@VERSION]`) of the token secret and the API key:
   * wsfleet-app-secrets.service reads them at boot and the app does not start without them, so
   * only their names are in the user-data. Both or neither; not with `tokenSecret`/`apiKey`.
   */
  readonly tokenSecretFrom?: string;
  readonly apiKeyFrom?: string;
  /** The metadata server the boot fetches ask for the VM account's token (`http://host[:port]`); unset: GCE's. */
  readonly metadataUrl?: string;
  /** The Secret Manager API of the secrets fetch; unset: Google's. */
  readonly secretManagerUrl?: string;
  /** The Memorystore API of the AUTH fetch (its `/v1` base); unset: Google's. */
  readonly redisApi?: string;
  /** Unset: the VM's hostname, which GCE sets to the instance name (one template fits a whole group). */
  readonly nodeName?: string;
  /** Browser origins allowed to connect (`https://app.example`), or `['*']`. */
  readonly allowedOrigins?: readonly string[];
  readonly apiKey?: string;
  readonly tokenSecret?: string;
  /** Whether WebSocket clients may publish (the app's default: true). */
  readonly clientPublish?: boolean;
  /** PEM file on the VM of roots cert-sync trusts besides the system's. */
  readonly extraRoots?: string;
  /** Those roots themselves (PEM): written to the VM as EXTRA_ROOTS_FILE. Not with `extraRoots`. */
  readonly extraRootsPem?: string;
  /** Seconds between cert-sync's polls of the store (its default: 300). */
  readonly pollInterval?: number;
}

/** The renewer VM. */
export interface RenewerValues extends CommonValues {
  readonly email?: string;
  readonly directoryUrl?: string;
  readonly eabKid?: string;
  readonly eabHmacKey?: string;
  readonly profile?: 'classic' | 'tlsserver' | 'shortlived';
  /** CA certificates (PEM) of a private ACME directory's HTTPS: written to the VM as DIRECTORY_CA_FILE. */
  readonly directoryCaPem?: string;
  /** DNS server (IP[:port]) of the renewer's self-check; unset: the VM's resolver. */
  readonly dnsServer?: string;
}

/** Where the user-data puts the PEM values (public certificates, 0644). */
export const EXTRA_ROOTS_FILE = '/etc/wsfleet/extra-roots.pem';
export const DIRECTORY_CA_FILE = '/etc/wsfleet/directory-ca.pem';
export const REDIS_CA_FILE = '/etc/wsfleet/redis-ca.pem';
const PEM_VALUES = {
  redisCaPem: { path: REDIS_CA_FILE, option: 'redisCaFile' },
  extraRootsPem: { path: EXTRA_ROOTS_FILE, option: 'extraRoots' },
  directoryCaPem: { path: DIRECTORY_CA_FILE, option: 'directoryCa' },
} as const;
const PEM_CERTIFICATE = /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n?$/;

export interface ValuesByRole {
  readonly app: AppValues;
  readonly renewer: RenewerValues;
}

/**
 * Networks wsfleet-app.service may reach (its IPAddressAllow=, which a test keeps in step): loopback
 * and the private ranges a VPC's Redis lives on.
 */
export const APP_REDIS_NETWORKS = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
] as const;

const UNITS: Record<Role, readonly string[]> = {
  app: ['wsfleet-cert-sync.service', 'wsfleet-app.service'],
  // The socket holds port 80 and hands it to the service.
  renewer: ['wsfleet-renewer.socket', 'wsfleet-renewer.service'],
};

/** The values each role takes (anything else is refused, so a misspelt key is not lost). */
const ALLOWED_KEYS: {
  readonly app: readonly (keyof AppValues)[];
  readonly renewer: readonly (keyof RenewerValues)[];
} = {
  app: [
    'certs',
    'store',
    'gcsEndpoint',
    'staging',
    'logLevel',
    'renewer',
    'redisUrl',
    'redisCaPem',
    ...BOOT_FETCH_KEYS,
    'nodeName',
    'allowedOrigins',
    'apiKey',
    'tokenSecret',
    'clientPublish',
    'extraRoots',
    'extraRootsPem',
    'pollInterval',
  ],
  renewer: [
    'certs',
    'store',
    'gcsEndpoint',
    'staging',
    'logLevel',
    'email',
    'directoryUrl',
    'eabKid',
    'eabHmacKey',
    'profile',
    'directoryCaPem',
    'dnsServer',
  ],
};

function check(file: EnvFile, problems: string[]): Config<Options> | undefined {
  try {
    return parseConfig(file.options, [], Object.fromEntries(file.variables)).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems.map((p) => `${file.daemon}: ${p}`));
    return undefined;
  }
}

function storeProblem(store: unknown): string | undefined {
  if (typeof store !== 'string') return '`store` must be a gs://bucket[/prefix] URL';
  // The renewer and the app VMs are different machines: only a bucket is shared by both.
  if (!store.startsWith('gs://')) return `\`store\` must be a gs://bucket[/prefix] URL, got ${show(store)}`;
  try {
    openStore(store);
    return undefined;
  } catch (err) {
    return `\`store\`: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Why wsfleet-app.service could not reach this Redis, or undefined. */
export function redisUrlProblem(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined; // the app's own schema reports a URL that does not parse
  }
  const family = isIP(host);
  if (family === 0)
    return `\`redisUrl\` must name Redis by IP address: wsfleet-app.service resolves no names (it may reach loopback and private networks only), got host ${show(host)}`;
  const allowed = new BlockList();
  for (const net of APP_REDIS_NETWORKS) {
    const [address = '', prefix = ''] = net.split('/');
    allowed.addSubnet(address, Number(prefix), net.includes(':') ? 'ipv6' : 'ipv4');
  }
  if (!allowed.check(host, family === 6 ? 'ipv6' : 'ipv4'))
    return `\`redisUrl\` host ${host} is outside the networks wsfleet-app.service may reach (${APP_REDIS_NETWORKS.join(', ')})`;
  return undefined;
}

/**
 * The env files for `role`. Throws ConfigError (WSFLEET_CONFIG_INVALID) listing every problem;
 * secret values are never quoted back.
 */
export function envFiles<R extends Role>(role: R, values: ValuesByRole[R]): Record<string, string> {
  const given = values as unknown as Readonly<Record<string, unknown>>;
  const pemProblems: string[] = [];
  const raw = withPemPaths(given, pemProblems);
  const c = new Collector(raw);
  const problems = c.problems;
  problems.push(...pemProblems);
  const allowed: readonly string[] = ALLOWED_KEYS[role];
  const unknown = Object.keys(given).filter((k) => !allowed.includes(k));
  if (unknown.length > 0)
    problems.push(`Unknown value${unknown.length > 1 ? 's' : ''} ${show(unknown)} for role ${role}`);
  const storeIssue = storeProblem(raw.store);
  if (storeIssue !== undefined) problems.push(storeIssue);

  const files: EnvFile[] = [];
  if (role === 'app') {
    const app: EnvFile = { daemon: 'app', options: appOptions, variables: [] };
    c.text(app, 'redisUrl');
    c.text(app, 'redisCaFile');
    c.text(app, 'nodeName');
    c.list(app, 'allowedOrigins', 'allowedOrigins', ',');
    c.text(app, 'apiKey');
    c.text(app, 'tokenSecret');
    c.flag(app, 'clientPublish');
    c.text(app, 'logLevel');
    const sync: EnvFile = { daemon: 'cert-sync', options: certSyncOptions, variables: [] };
    c.certs(sync);
    c.text(sync, 'store');
    c.text(sync, 'gcsEndpoint');
    c.text(sync, 'renewer');
    c.flag(sync, 'staging');
    c.text(sync, 'extraRoots');
    c.number(sync, 'pollInterval');
    c.text(sync, 'logLevel');
    files.push(app, sync, ...bootFetchFiles(raw, c, problems));
    if (typeof raw.redisUrl === 'string') {
      const issue = redisUrlProblem(raw.redisUrl);
      if (issue !== undefined) problems.push(issue);
    }
  } else {
    const renewer: EnvFile = { daemon: 'renewer', options: renewerOptions, variables: [] };
    c.certs(renewer);
    c.text(renewer, 'store');
    c.text(renewer, 'gcsEndpoint');
    c.text(renewer, 'email');
    c.text(renewer, 'directoryUrl');
    c.flag(renewer, 'staging');
    c.text(renewer, 'eabKid');
    c.text(renewer, 'eabHmacKey');
    c.text(renewer, 'profile');
    c.text(renewer, 'directoryCa');
    c.text(renewer, 'dnsServer');
    c.text(renewer, 'logLevel');
    files.push(renewer);
  }

  for (const file of files) {
    const config = check(file, problems);
    if (config === undefined) continue;
    if (file.daemon === 'renewer') problems.push(...renewerProblems(config as Config<typeof renewerOptions>));
    if (file.daemon === 'cert-sync')
      problems.push(...certSyncProblems(config as Config<typeof certSyncOptions>));
  }
  // parseConfig hides secret values; messages of ours quote only values that are not secret.
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  return Object.fromEntries(
    files.map((file) => [
      `/etc/wsfleet/${file.daemon}.env`,
      formatEnvFile(
        [
          `Settings of wsfleet-${file.daemon}.service (its EnvironmentFile=), written by cloud-init`,
          `from the deploy's values. Every setting: \`wsfleet ${commandOf(file.daemon)} --help\`.`,
        ],
        file.variables,
      ),
    ]),
  );
}

/** `values` with each PEM value replaced by its option naming the file it is written to. */
function withPemPaths(
  values: Readonly<Record<string, unknown>>,
  problems: string[],
): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...values };
  for (const [key, { path, option }] of Object.entries(PEM_VALUES)) {
    const pem = values[key];
    if (pem === undefined) continue;
    delete out[key];
    if (values[option] !== undefined) problems.push(`Give \`${option}\` or \`${key}\`, not both`);
    else if (typeof pem !== 'string' || !PEM_CERTIFICATE.test(pem))
      problems.push(`\`${key}\` must be PEM certificates (-----BEGIN CERTIFICATE----- …)`);
    else out[option] = path;
  }
  return out;
}

/** The PEM files the user-data writes, by path (0644: certificates are public). */
export function pemFiles(values: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, { path }] of Object.entries(PEM_VALUES)) {
    const pem = values[key];
    if (typeof pem === 'string') out[path] = pem.endsWith('\n') ? pem : `${pem}\n`;
  }
  return out;
}

/**
 * The #cloud-config user-data of a VM of `role`: writes its env files, then enables and starts
 * its units. Throws ConfigError (WSFLEET_CONFIG_INVALID) listing every problem with `values`.
 */
export function renderUserData<R extends Role>(role: R, values: ValuesByRole[R]): string {
  const files = envFiles(role, values);
  const writeFiles: YamlValue[] = [
    ...Object.entries(files).map(([path, content]) => ({
      path,
      owner: 'root:root',
      permissions: '0600',
      content,
    })),
    ...Object.entries(pemFiles(values as unknown as Readonly<Record<string, unknown>>)).map(
      ([path, content]) => ({ path, owner: 'root:root', permissions: '0644', content }),
    ),
  ];
  return yamlDocument(
    [
      '#cloud-config',
      `# wsfleet ${role} VM. Writes the daemons' settings, then enables and starts the units the`,
      "# image carries. Rendered by cloud-init/render.ts from the deploy's values: change those, not this.",
    ],
    {
      // The image sets the locale; cloud-init's own default (en_US.UTF-8) would need a locale
      // the image may not have generated, and its failure marks the whole boot as an error.
      locale: 'false',
      write_files: writeFiles,
      runcmd: [['systemctl', 'enable', '--now', ...unitsOf(role, values)]],
    },
  );
}

/**
 * The units `role`'s user-data enables and starts: on an app VM, first the boot fetches its
 * values ask for (boot-fetch.ts; the app is ordered after them and requires them).
 */
export function unitsOf<R extends Role>(role: R, values?: ValuesByRole[R]): readonly string[] {
  if (role !== 'app') return UNITS[role];
  return [...bootFetchUnits(values as Readonly<Record<string, unknown>> | undefined), ...UNITS[role]];
}

export { REDIS_AUTH_UNIT, SECRETS_UNIT } from './boot-fetch.ts';
