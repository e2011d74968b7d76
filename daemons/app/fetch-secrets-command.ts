/**
 * `wsfleet app fetch-secrets`: run as root on an app VM before the app starts. Takes the VM's
 * service-account token from the metadata server, reads the token secret and the API key from
 * the Secret Manager API (checking each payload's CRC32C), and writes them as the app's
 * WSFLEET_TOKEN_SECRET and WSFLEET_API_KEY (and, during a rotation, the still enabled version
 * before the latest as WSFLEET_TOKEN_SECRET_PREVIOUS and WSFLEET_API_KEY_PREVIOUS) to an env
 * file only root may read (0600, replaced atomically), which systemd reads before it starts the app. The values are in no argument, no
 * metadata and no log line; an error names the secret and the HTTP status only.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { option, parseCommand, schemas } from '../shared/config.ts';
import { EXIT } from '../shared/errors.ts';
import {
  realBootRetryDeps,
  retryForOption,
  retryTransient,
  transient,
  transientStatus,
} from './boot-retry.ts';
import { crc32c } from './crc32c.ts';
import { parseSecretRef, SECRET_REF_PATTERN, SecretError, type SecretRef, showRef } from './secret-source.ts';

const ref = (what: string) =>
  option({
    schema: z.string().regex(SECRET_REF_PATTERN),
    description: `Secret Manager secret of ${what}`,
    expected: 'gcp:PROJECT/SECRET or gcp:PROJECT/SECRET@VERSION',
  });

export const fetchSecretsOptions = {
  tokenSecretFrom: ref('the token secret (WSFLEET_TOKEN_SECRET)'),
  apiKeyFrom: ref('the API key (WSFLEET_API_KEY)'),
  out: option({
    schema: z.string().startsWith('/').default('/run/wsfleet/app-secrets.env'),
    description: 'The env file written (0600)',
    expected: 'an absolute path',
  }),
  metadataUrl: option({
    schema: schemas.url(['http:']).default('http://169.254.169.254'),
    description: "The metadata server (its address: the VM's resolver is not needed)",
    expected: 'an http:// URL',
  }),
  secretManagerUrl: option({
    schema: schemas.url(['https:', 'http:']).default('https://secretmanager.googleapis.com'),
    description: 'The Secret Manager API',
    expected: 'an https:// URL',
  }),
  timeout: option({
    schema: schemas.positive(20),
    description: 'Seconds each request may take',
    expected: 'a positive number of seconds',
  }),
  retryFor: retryForOption,
} as const;

export interface FetchDeps {
  readonly fetch: typeof fetch;
}

function fail(ref: SecretRef | undefined, why: string): SecretError {
  const what = ref === undefined ? "the VM's service-account token" : showRef(ref);
  return new SecretError('WSFLEET_SECRET_UNAVAILABLE', `cannot read ${what}: ${why}`);
}

async function accessToken(metadataUrl: string, timeoutMs: number, deps: FetchDeps): Promise<string> {
  const url = new URL('/computeMetadata/v1/instance/service-accounts/default/token', metadataUrl);
  let response: Response;
  try {
    response = await deps.fetch(url, {
      headers: { 'Metadata-Flavor': 'Google' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw transient(
      fail(undefined, `the metadata server ${url.origin} did not answer (${(err as Error).name})`),
    );
  }
  if (!response.ok) {
    const err = fail(undefined, `the metadata server answered HTTP ${response.status}`);
    throw transientStatus(response.status) ? transient(err) : err;
  }
  const body = (await response.json().catch(() => undefined)) as { access_token?: unknown } | undefined;
  if (typeof body?.access_token !== 'string' || body.access_token === '')
    throw fail(undefined, 'the metadata server sent no access_token');
  return body.access_token;
}

/** A version's value and its number (from the `name` Secret Manager answers with). */
export interface SecretValue {
  readonly value: string;
  readonly version: number | undefined;
}

/**
 * The value of one secret version, its CRC32C checked when the API gives one. With `optional`,
 * a version that is not there or not enabled (404; 400 FAILED_PRECONDITION when disabled or
 * destroyed) is undefined rather than an error.
 */
export async function accessSecret(
  ref: SecretRef,
  token: string,
  apiUrl: string,
  timeoutMs: number,
  deps: FetchDeps,
  { optional = false }: { optional?: boolean } = {},
): Promise<SecretValue | undefined> {
  const path = `/v1/projects/${ref.project}/secrets/${ref.secret}/versions/${ref.version}:access`;
  let response: Response;
  try {
    response = await deps.fetch(`${apiUrl.replace(/\/+$/, '')}${path}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw transient(fail(ref, `Secret Manager did not answer (${(err as Error).name})`));
  }
  const body = (await response.json().catch(() => undefined)) as unknown;
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  if (!response.ok) {
    const status = typeof error?.status === 'string' ? error.status : '';
    if (
      optional &&
      (response.status === 404 || (response.status === 400 && status === 'FAILED_PRECONDITION'))
    )
      return undefined;
    // Only Google's status word: its message may quote what it was sent.
    const err = fail(
      ref,
      `Secret Manager answered HTTP ${response.status}${/^[A-Z_]{1,40}$/.test(status) ? ` ${status}` : ''}${response.status === 403 ? " (the VM's account may not read it, or its grant has not propagated yet)" : ''}`,
    );
    throw transientStatus(response.status) ? transient(err) : err;
  }
  const payload = isRecord(body) && isRecord(body.payload) ? body.payload : undefined;
  const data = payload?.data;
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0)
    throw fail(ref, 'Secret Manager sent no payload (base64 data)');
  const bytes = Buffer.from(data, 'base64');
  const sum = payload?.dataCrc32c;
  if (sum !== undefined && String(sum) !== String(crc32c(bytes)))
    throw fail(ref, 'the payload does not match its CRC32C');
  const value = bytes.toString('utf8');
  if (!/^[\x21-\x7e]{1,4096}$/.test(value))
    throw fail(ref, 'the value is empty, too long or not printable ASCII');
  // systemd reads an unquoted value of an EnvironmentFile= with shell-like quoting: a quote or a
  // backslash would reach the app changed. The deploy's values are base64url.
  if (/["'\\]/.test(value))
    throw fail(ref, 'the value holds a quote or a backslash, which an environment file does not keep as is');
  const name = isRecord(body) && typeof body.name === 'string' ? body.name : '';
  const number = /\/versions\/([1-9][0-9]{0,9})$/.exec(name)?.[1];
  return { value, version: number === undefined ? undefined : Number(number) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads both secrets and writes the env file. */
export async function fetchSecrets(
  config: {
    [K in Exclude<keyof typeof fetchSecretsOptions, 'retryFor'>]: z.output<
      (typeof fetchSecretsOptions)[K]['schema']
    >;
  },
  deps: FetchDeps = { fetch },
): Promise<void> {
  const timeoutMs = config.timeout * 1000;
  const token = await accessToken(config.metadataUrl, timeoutMs, deps);
  const refs = {
    WSFLEET_TOKEN_SECRET: parseSecretRef(config.tokenSecretFrom),
    WSFLEET_API_KEY: parseSecretRef(config.apiKeyFrom),
  };
  const lines: string[] = [];
  for (const [name, r] of Object.entries(refs)) {
    if (r === undefined) throw fail(undefined, `${name}: not a secret reference`);
    const current = (await accessSecret(r, token, config.secretManagerUrl, timeoutMs, deps)) as SecretValue;
    lines.push(`${name}=${current.value}`);
    // During a rotation (`wsfleet rollout --rotate-secrets`) the version before the latest is
    // still enabled, and what it signed is still taken; once the rotation is finished it is
    // disabled. The app account may access versions but not list them, so it asks for N-1.
    if (r.version !== 'latest' || current.version === undefined || current.version < 2) continue;
    const previous = await accessSecret(
      { ...r, version: String(current.version - 1) },
      token,
      config.secretManagerUrl,
      timeoutMs,
      deps,
      { optional: true },
    );
    if (previous !== undefined) lines.push(`${name}_PREVIOUS=${previous.value}`);
  }
  const temp = `${config.out}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, config.out);
  } finally {
    await rm(temp, { force: true });
  }
}

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommand(
    'wsfleet app fetch-secrets --token-secret-from gcp:P/S --api-key-from gcp:P/S [--out FILE]',
    "Write the app's secrets from Secret Manager to a root-only env file (an app VM's boot).",
    fetchSecretsOptions,
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  try {
    await retryTransient(
      () => fetchSecrets(config),
      config.retryFor * 1000,
      realBootRetryDeps((err, delayMs) =>
        process.stderr.write(
          `wsfleet app fetch-secrets: ${(err as SecretError).code}: ${err.message}; trying again in ${(delayMs / 1000).toFixed(1)} s\n`,
        ),
      ),
    );
  } catch (err) {
    if (!(err instanceof SecretError)) throw err;
    process.stderr.write(`wsfleet app fetch-secrets: ${err.code}: ${err.message}\n`);
    return EXIT.FAILURE;
  }
  process.stdout.write(`wsfleet app fetch-secrets: wrote ${config.out}\n`);
  return EXIT.OK;
}
