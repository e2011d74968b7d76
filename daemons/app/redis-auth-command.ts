/**
 * `wsfleet app redis-auth`: run as root by wsfleet-app-redis-auth.service before the app starts. Asks
 * the metadata server for the VM account's token, reads the Memorystore instance's AUTH string
 * from the Redis API (`instances.getAuthString`, what `gcloud redis instances get-auth-string`
 * calls) and writes it as WSFLEET_REDIS_PASSWORD to an environment file only root reads (0600):
 * systemd reads it for wsfleet-app.service before dropping privileges. The string is in no
 * metadata, template or log line; the app itself cannot reach the metadata server.
 */
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { option, parseCommand } from '../shared/config.ts';
import { WsfleetError } from '../shared/errors.ts';
import {
  realBootRetryDeps,
  retryForOption,
  retryTransient,
  transient,
  transientStatus,
} from './boot-retry.ts';

export const redisAuthOptions = {
  redisInstance: option({
    schema: z
      .string()
      .regex(/^projects\/[a-z0-9-]{1,63}\/locations\/[a-z0-9-]{1,63}\/instances\/[a-z0-9-]{1,63}$/),
    description: 'Memorystore instance whose AUTH string to fetch: projects/P/locations/R/instances/I',
    expected: 'projects/PROJECT/locations/REGION/instances/NAME',
  }),
  out: option({
    schema: z.string().min(1).default('/run/wsfleet/redis-auth.env'),
    description: 'Environment file to write (0600), read by wsfleet-app.service',
    expected: 'a file path',
  }),
  metadataUrl: option({
    schema: z.url().default('http://metadata.google.internal/computeMetadata/v1'),
    description: "The metadata server's base URL",
    expected: 'an http(s) URL',
  }),
  redisApi: option({
    schema: z.url().default('https://redis.googleapis.com/v1'),
    description: 'The Memorystore for Redis API base URL',
    expected: 'an http(s) URL',
  }),
  retryFor: retryForOption,
} as const;

/** Each request's bound (two requests a try). */
export const TIMEOUT_MS = 10_000;
/** What an environment file holds unquoted: printable ASCII without quotes, backslash or space. */
const PLAIN = /^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]{1,512}$/;

const HINTS: Record<number, string> = {
  401: ' (the VM account token was refused)',
  403: " (the VM's account lacks redis.instances.getAuthString, or its grant has not propagated yet: `wsfleet deploy` grants it through the fleet's <name>_redis_auth role)",
  404: ' (no such instance)',
};

export interface RedisAuthDeps {
  readonly fetch: typeof fetch;
}

async function getJson(
  url: string,
  headers: Record<string, string>,
  what: string,
  deps: RedisAuthDeps,
): Promise<unknown> {
  let response: Response;
  let text: string;
  try {
    response = await deps.fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
    text = await response.text();
  } catch (err) {
    // Only the error's name and its cause's code: fetch quotes a header value it refuses, and
    // the Authorization header holds the VM's token.
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    const why = [(err as Error).name, typeof code === 'string' ? code : ''].filter((w) => w !== '').join(' ');
    throw transient(
      new WsfleetError('WSFLEET_REDIS_AUTH_UNAVAILABLE', `${what}: no answer (${why})`, { cause: err }),
    );
  }
  if (!response.ok) {
    // Only Google's status word (PERMISSION_DENIED, NOT_FOUND) and what it means here: its
    // message may quote what it was sent.
    const status = /"status":\s*"([A-Z_]{1,40})"/.exec(text)?.[1];
    const err = new WsfleetError(
      'WSFLEET_REDIS_AUTH_UNAVAILABLE',
      `${what}: HTTP ${response.status}${status === undefined ? '' : ` ${status}`}${HINTS[response.status] ?? ''}`,
    );
    throw transientStatus(response.status) ? transient(err) : err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new WsfleetError('WSFLEET_REDIS_AUTH_UNAVAILABLE', `${what}: the answer is not JSON`, {
      cause: err,
    });
  }
}

export async function fetchRedisAuth(
  config: {
    redisInstance: string;
    metadataUrl: string;
    redisApi: string;
  },
  deps: RedisAuthDeps = { fetch },
): Promise<string> {
  const token = z
    .object({ access_token: z.string().min(1) })
    .safeParse(
      await getJson(
        `${config.metadataUrl}/instance/service-accounts/default/token`,
        { 'Metadata-Flavor': 'Google' },
        'the metadata server (token)',
        deps,
      ),
    );
  if (!token.success)
    throw new WsfleetError('WSFLEET_REDIS_AUTH_UNAVAILABLE', 'the metadata server (token): no access_token');
  const answer = await getJson(
    `${config.redisApi}/${config.redisInstance}/authString`,
    { Authorization: `Bearer ${token.data.access_token}` },
    `the Redis API (${config.redisInstance} authString)`,
    deps,
  );
  const auth = z.object({ authString: z.string() }).safeParse(answer);
  // An empty answer means AUTH is off: the deploy refuses such an instance, and so does this.
  if (!auth.success || auth.data.authString === '')
    throw new WsfleetError(
      'WSFLEET_REDIS_AUTH_UNAVAILABLE',
      `${config.redisInstance} has no AUTH string (AUTH is off)`,
    );
  if (!PLAIN.test(auth.data.authString))
    throw new WsfleetError(
      'WSFLEET_REDIS_AUTH_UNAVAILABLE',
      `${config.redisInstance}: the AUTH string has characters an environment file cannot hold`,
    );
  return auth.data.authString;
}

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommand(
    'wsfleet app redis-auth [flags]',
    "Fetch the Memorystore instance's AUTH string into an environment file for the app (run as root at boot).",
    redisAuthOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const value = await retryTransient(
    () => fetchRedisAuth(config),
    config.retryFor * 1000,
    realBootRetryDeps((err, delayMs) =>
      process.stderr.write(
        `wsfleet app redis-auth: ${(err as WsfleetError).code}: ${err.message}; trying again in ${(delayMs / 1000).toFixed(1)} s\n`,
      ),
    ),
  );
  const temp = `${config.out}.${randomBytes(6).toString('hex')}`;
  await writeFile(
    temp,
    `# Written by wsfleet-app-redis-auth.service at boot.\nWSFLEET_REDIS_PASSWORD=${value}\n`,
    {
      mode: 0o600,
      flag: 'wx',
    },
  );
  await rename(temp, config.out);
  process.stdout.write(`wrote the AUTH string of ${config.redisInstance} to ${config.out}\n`);
  return 0;
}
