/** `wsfleet app token`: prints a connection token signed with the node's --token-secret. */
import { z } from 'zod';
import { option, parseCommand, schemas } from '../shared/config.ts';
import { appOptions } from './config.ts';
import { signToken } from './token.ts';

const tokenOptions = {
  tokenSecret: { ...appOptions.tokenSecret, schema: appOptions.tokenSecret.schema.unwrap() },
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
    'wsfleet app token [flags]',
    'Print a signed connection token.',
    tokenOptions,
    argv,
    env,
  );
  if (parsed === undefined) return 0;
  const { config } = parsed;
  const claims = {
    exp: Math.floor(Date.now() / 1000) + config.ttl,
    ...(config.sub === undefined ? {} : { sub: config.sub }),
    ...(config.channels.length === 0 ? {} : { channels: config.channels }),
  };
  process.stdout.write(`${signToken(claims, config.tokenSecret)}\n`);
  return 0;
}
