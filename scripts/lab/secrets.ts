/**
 * The lab's fleet secrets, made per lab as a deploy makes them (32 random bytes, base64url): the
 * app's token secret and API key, kept as the Secret Manager stand-in serves them
 * (`<lab dir>/secrets/<project>/<secret>`, root's, 0600), and the Redis AUTH string, which the
 * lab's Redis asks for (its config file, 0600: not on a command line) and the getAuthString
 * stand-in answers. The app VMs read them at boot through the deploy's code path
 * (wsfleet-app-secrets.service and wsfleet-app-redis-auth.service, by name); the lab's clients
 * mint their tokens from the same file.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newSecretValue } from '../deploy/plan-secrets.ts';
import { secretIdsOf } from '../deploy/secret-ids.ts';
import { labDir } from './state.ts';

export interface LabSecrets {
  /** The folder google-double serves (`--secrets-dir`). */
  readonly dir: string;
  /** The lab's stand-in project. */
  readonly project: string;
  /** `gcp:PROJECT/SECRET`, as the deploy's user-data names them. */
  readonly tokenSecretFrom: string;
  readonly apiKeyFrom: string;
  /** The files that hold the values. */
  readonly tokenSecretFile: string;
  readonly apiKeyFile: string;
  /** The Redis instance the AUTH fetch names (`projects/P/locations/R/instances/I`). */
  readonly redisInstance: string;
  /** The AUTH string, and the Redis config file that asks for it. */
  readonly redisAuthFile: string;
  readonly redisConfFile: string;
}

export function labSecretsOf(stateDir: string, lab: string): LabSecrets {
  const dir = join(labDir(stateDir, lab), 'secrets');
  const project = `wsfleet-${lab}`;
  const ids = secretIdsOf({ name: 'wsfleet' });
  return {
    dir,
    project,
    tokenSecretFrom: `gcp:${project}/${ids.tokenSecret}`,
    apiKeyFrom: `gcp:${project}/${ids.apiKey}`,
    tokenSecretFile: join(dir, project, ids.tokenSecret),
    apiKeyFile: join(dir, project, ids.apiKey),
    redisInstance: `projects/${project}/locations/lab/instances/redis`,
    redisAuthFile: join(dir, 'redis-auth'),
    redisConfFile: join(dir, 'redis-auth.conf'),
  };
}

/** Makes the values (new ones: a lab's secrets are its own). */
export async function createLabSecrets(secrets: LabSecrets): Promise<void> {
  await mkdir(join(secrets.dir, secrets.project), { recursive: true, mode: 0o700 });
  for (const file of [secrets.tokenSecretFile, secrets.apiKeyFile])
    await writeFile(file, newSecretValue(), { mode: 0o600 });
  const auth = newSecretValue();
  await writeFile(secrets.redisAuthFile, auth, { mode: 0o600 });
  // base64url needs no quoting in redis.conf.
  await writeFile(secrets.redisConfFile, `requirepass ${auth}\n`, { mode: 0o600 });
}

/** The lab's token secret, to mint tokens for its clients. */
export async function readLabTokenSecret(secrets: LabSecrets): Promise<string> {
  return (await readFile(secrets.tokenSecretFile, 'utf8')).trim();
}

/** The command that mints a token for the lab, as `up` and `status` print it. */
export function mintCommand(secrets: LabSecrets): string {
  return `WSFLEET_TOKEN_SECRET="$(cat ${secrets.tokenSecretFile})" wsfleet app token --sub you --ttl 3600`;
}
