/**
 * The app VM's boot fetches: root oneshots that read what the app must not start without, so
 * that the user-data names it and never holds it. wsfleet-app-secrets.service reads the token
 * secret and the API key from Secret Manager (`tokenSecretFrom`, `apiKeyFrom`:
 * gcp:PROJECT/SECRET), wsfleet-app-redis-auth.service the Memorystore AUTH string
 * (`redisAuthFrom`). Each is enabled only when its values are given; enabled, it is required by
 * wsfleet-app.service (RequiredBy= in its unit), so a failed fetch keeps the app down.
 *
 * `metadataUrl`, `secretManagerUrl` and `redisApi` name stand-ins of Google's servers (a lab's);
 * unset, each command's default (Google's) applies.
 */
import { fetchSecretsOptions } from '../daemons/app/fetch-secrets-command.ts';
import { redisAuthOptions } from '../daemons/app/redis-auth-command.ts';
import { type Collector, type EnvFile, show } from './env-values.ts';

export const SECRETS_UNIT = 'wsfleet-app-secrets.service';
export const REDIS_AUTH_UNIT = 'wsfleet-app-redis-auth.service';

/** The path of the metadata server's API below its origin (what redis-auth takes as its base). */
const METADATA_V1 = '/computeMetadata/v1';

/** The values of the boot fetches (part of the app's values; see the file comment). */
export const BOOT_FETCH_KEYS = [
  'tokenSecretFrom',
  'apiKeyFrom',
  'redisAuthFrom',
  'metadataUrl',
  'secretManagerUrl',
  'redisApi',
] as const;

/** Whether `url` is an http:// origin alone (the boot fetches add the paths). */
function isOrigin(url: string): boolean {
  try {
    const parsed = new URL(url);
    return (
      parsed.protocol === 'http:' && parsed.pathname === '/' && parsed.search === '' && !url.endsWith('/')
    );
  } catch {
    return false;
  }
}

/** The oneshots `values` enable, in the order they start (both before the app). */
export function bootFetchUnits(values: Readonly<Record<string, unknown>> | undefined): string[] {
  if (values === undefined) return [];
  const secrets = values.tokenSecretFrom !== undefined || values.apiKeyFrom !== undefined;
  return [
    ...(secrets ? [SECRETS_UNIT] : []),
    ...(values.redisAuthFrom !== undefined ? [REDIS_AUTH_UNIT] : []),
  ];
}

/**
 * The oneshots' env files for `raw`, their variables collected by `c`; problems of values that
 * contradict each other go to `problems`.
 */
export function bootFetchFiles(
  raw: Readonly<Record<string, unknown>>,
  c: Collector,
  problems: string[],
): EnvFile[] {
  for (const key of ['tokenSecret', 'apiKey'] as const) {
    if (raw[key] !== undefined && raw[`${key}From`] !== undefined)
      problems.push(`Give \`${key}\` or \`${key}From\`, not both`);
  }
  const metadata = raw.metadataUrl;
  if (metadata !== undefined && !(typeof metadata === 'string' && isOrigin(metadata)))
    problems.push(
      `\`metadataUrl\` must be the metadata server's origin, http://host[:port], got ${show(metadata)}`,
    );
  const units = bootFetchUnits(raw);
  const files: EnvFile[] = [];
  if (units.includes(SECRETS_UNIT)) {
    const secrets: EnvFile = { daemon: 'app-secrets', options: fetchSecretsOptions, variables: [] };
    c.text(secrets, 'tokenSecretFrom');
    c.text(secrets, 'apiKeyFrom');
    c.text(secrets, 'metadataUrl');
    c.text(secrets, 'secretManagerUrl');
    files.push(secrets);
  }
  if (units.includes(REDIS_AUTH_UNIT)) {
    const auth: EnvFile = { daemon: 'app-redis-auth', options: redisAuthOptions, variables: [] };
    c.text(auth, 'redisInstance', 'redisAuthFrom');
    // redis-auth takes the metadata server's API base; fetch-secrets its origin.
    if (typeof metadata === 'string' && isOrigin(metadata))
      c.value(auth, 'metadataUrl', 'metadataUrl', `${metadata}${METADATA_V1}`);
    c.text(auth, 'redisApi');
    files.push(auth);
  }
  const needed = {
    metadataUrl: units.length > 0,
    secretManagerUrl: units.includes(SECRETS_UNIT),
    redisApi: units.includes(REDIS_AUTH_UNIT),
  };
  for (const [key, used] of Object.entries(needed))
    if (raw[key] !== undefined && !used)
      problems.push(
        `\`${key}\` is for the boot fetches, and none that needs it is asked for (name the secrets or the Redis instance)`,
      );
  return files;
}

/** The command whose `--help` documents an env file's settings. */
export function commandOf(daemon: EnvFile['daemon']): string {
  if (daemon === 'app-secrets') return 'app fetch-secrets';
  if (daemon === 'app-redis-auth') return 'app redis-auth';
  return `${daemon} run`;
}
