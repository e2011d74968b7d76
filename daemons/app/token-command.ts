/**
 * `wsfleet app token`: prints a connection token signed with the node's token secret, given as a
 * value (--token-secret) or read from Secret Manager (--token-secret-from gcp:PROJECT/SECRET, the
 * secret `wsfleet deploy` made), so the operator mints tokens without the secret in a file.
 */
import { z } from 'zod';
import { option, parseCommand, schemas } from '../shared/config.ts';
import { ConfigError, EXIT } from '../shared/errors.ts';
import { appOptions } from './config.ts';
import { parseSecretRef, readWithGcloud, SECRET_REF_PATTERN, SecretError, showRef } from './secret-source.ts';
import { signToken } from './token.ts';

const tokenOptions = {
  tokenSecret: appOptions.tokenSecret,
  tokenSecretFrom: option({
    schema: z.string().regex(SECRET_REF_PATTERN).optional(),
    description:
      'Read the token secret from Secret Manager through gcloud instead (the deploy makes gcp:PROJECT/NAME-token-secret)',
    expected: 'gcp:PROJECT/SECRET or gcp:PROJECT/SECRET@VERSION',
  }),
  gcloud: option({
    schema: z.string().min(1).default('gcloud'),
    description: 'The gcloud command that reads --token-secret-from',
    expected: 'a command name or path',
  }),
  sub: option({
    schema: z.string().max(200).optional(),
    description: 'Identity of the client, logged by the node',
    expected: 'a string of at most 200 characters',
  }),
  channels: option({
    schema: z.array(z.string().min(1).max(201)).default([]),
    description: 'A channel the client may use (repeatable; NAME* allows a prefix); none: any channel',
    expected: 'a channel name, or a prefix ending in *',
    kind: 'list',
  }),
  ttl: option({
    schema: schemas.int(1, 366 * 24 * 3600, 3600),
    description: 'Seconds the token stays valid',
    expected: 'an integer number of seconds from 1 to 31622400',
  }),
} as const;

export async function run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommand(
    'wsfleet app token (--token-secret SECRET | --token-secret-from gcp:PROJECT/SECRET) [flags]',
    'Print a signed connection token.',
    tokenOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const ref = config.tokenSecretFrom === undefined ? undefined : parseSecretRef(config.tokenSecretFrom);
  if ((config.tokenSecret === undefined) === (ref === undefined))
    throw new ConfigError(['give exactly one of --token-secret and --token-secret-from']);
  let secret = config.tokenSecret ?? '';
  if (ref !== undefined) {
    try {
      secret = await readWithGcloud(ref, config.gcloud, env);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      process.stderr.write(`wsfleet app token: ${err.code}: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    if (secret.length < 32)
      throw new ConfigError([
        `the token secret in ${showRef(ref)} has fewer than 32 characters; the app refuses such a secret`,
      ]);
  }
  const claims = {
    exp: Math.floor(Date.now() / 1000) + config.ttl,
    ...(config.sub === undefined ? {} : { sub: config.sub }),
    ...(config.channels.length === 0 ? {} : { channels: config.channels }),
  };
  process.stdout.write(`${signToken(claims, secret)}\n`);
  return EXIT.OK;
}
