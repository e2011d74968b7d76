/** Every setting of `wsfleet app run`: a flag and a WSFLEET_* variable each (README lists them). */
import { hostname } from 'node:os';
import { z } from 'zod';
import { type Config, logLevelOption, option, schemas } from '../shared/config.ts';

const origins = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o !== ''),
  )
  .refine((list) => list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)));

export const appOptions = {
  host: option({
    schema: z.string().default('127.0.0.1'),
    description: 'Address to listen on (nginx sits in front)',
    expected: 'an IP address or host name',
  }),
  port: option({
    schema: schemas.portOrZero(8080),
    description: 'Port for WebSocket and HTTP (0 picks a free one)',
    expected: 'an integer from 0 to 65535',
  }),
  redisUrl: option({
    schema: schemas.url(['redis:', 'rediss:']).optional(),
    description: 'Redis for cross-node fan-out and history; without it the node runs alone',
    expected: 'a redis:// or rediss:// URL',
    secret: true,
  }),
  redisCaFile: option({
    schema: z.string().min(1).optional(),
    description:
      "PEM file of the CAs that sign Redis's TLS certificate (Memorystore's serverCaCerts); with a rediss:// URL, only they are trusted",
    expected: 'the path of a PEM file',
  }),
  redisPassword: option({
    schema: z.string().min(1).optional(),
    description:
      "Password Redis asks for (Memorystore's AUTH string); on a VM wsfleet-app-redis-auth.service fetches it at boot",
    expected: 'a password',
    secret: true,
  }),
  redisPasswordFile: option({
    schema: z.string().min(1).optional(),
    description:
      "File holding the password Redis asks for (Memorystore's AUTH string), read at start, never logged",
    expected: 'the path of a file',
  }),
  nodeName: option({
    schema: z.string().max(64).default(hostname()),
    description: 'Name of this node, shown to clients in the welcome frame',
    expected: 'a name of at most 64 characters',
  }),
  allowedOrigins: option({
    schema: origins.optional(),
    description:
      'Comma-separated browser origins allowed to connect, or * for any; unset: same host only (clients without Origin always pass)',
    expected: 'a comma-separated list of origins like https://example.com, or *',
  }),
  apiKey: option({
    schema: z.string().min(16).optional(),
    description: 'Bearer key for POST /api/publish; unset disables the API',
    expected: 'a key of at least 16 characters',
    secret: true,
  }),
  tokenSecret: option({
    schema: z.string().min(32).optional(),
    description: 'HMAC secret of connection tokens; when set, every connection needs a valid token',
    expected: 'a secret of at least 32 characters',
    secret: true,
  }),
  tokenSecretPrevious: option({
    schema: z.string().min(32).optional(),
    description:
      'During a rotation, the previous HMAC secret: tokens it signed are still taken (only with --token-secret)',
    expected: 'a secret of at least 32 characters',
    secret: true,
  }),
  apiKeyPrevious: option({
    schema: z.string().min(16).optional(),
    description: 'During a rotation, the previous API key, still taken (only with --api-key)',
    expected: 'a key of at least 16 characters',
    secret: true,
  }),
  clientPublish: option({
    schema: z.boolean().default(true),
    description: 'Whether WebSocket clients may publish (backends can always use the API)',
    expected: 'true or false',
    kind: 'flag',
  }),
  maxConnections: option({
    schema: schemas.int(1, 10_000_000, 50_000),
    description: 'Connections this node accepts; beyond, upgrades get 503',
    expected: 'an integer from 1 to 10000000',
  }),
  maxMessageBytes: option({
    schema: schemas.int(64, 16 * 1024 * 1024, 64 * 1024),
    description: 'Largest client frame; a larger one closes the connection with 1009',
    expected: 'an integer from 64 to 16777216',
  }),
  maxSendBufferBytes: option({
    schema: schemas.int(1024, 1024 * 1024 * 1024, 4 * 1024 * 1024),
    description: 'Bytes queued to one slow client before it is disconnected',
    expected: 'an integer from 1024 to 1073741824',
  }),
  maxChannelsPerConnection: option({
    schema: schemas.int(1, 100_000, 128),
    description: 'Subscriptions one connection may hold',
    expected: 'an integer from 1 to 100000',
  }),
  rateLimit: option({
    schema: schemas.positive(50),
    description: 'Frames per second one connection may send (token bucket refill rate)',
    expected: 'a positive number',
  }),
  rateBurst: option({
    schema: schemas.int(1, 10_000_000, 100),
    description: 'Frames one connection may send in a burst (token bucket size)',
    expected: 'an integer from 1 to 10000000',
  }),
  historySize: option({
    schema: schemas.int(0, 1_000_000, 1000),
    description: 'Publications kept per channel for clients that resume',
    expected: 'an integer from 0 to 1000000',
  }),
  historyTtl: option({
    schema: schemas.positive(3600),
    description: 'Seconds a channel history lives after its last publication',
    expected: 'a positive number of seconds',
  }),
  pingInterval: option({
    schema: schemas.positive(25),
    description:
      'Seconds between pings; a peer that misses one is dropped (under the 60 s idle timeouts of nginx and GCP)',
    expected: 'a positive number of seconds',
  }),
  drainSeconds: option({
    schema: schemas.positive(10),
    description:
      'Window over which SIGTERM closes clients with 1012; the process exits 5 s after it at the latest',
    expected: 'a positive number of seconds',
  }),
  logLevel: logLevelOption,
} as const;

export type AppConfig = Config<typeof appOptions>;

/** Problems zod cannot see field by field. */
export function appCrossProblems(config: {
  tokenSecret?: string | undefined;
  tokenSecretPrevious?: string | undefined;
  apiKey?: string | undefined;
  apiKeyPrevious?: string | undefined;
}): string[] {
  const problems: string[] = [];
  // A previous value alone would leave the node open (no token needed) or the API off while the
  // operator meant a rotation.
  if (config.tokenSecretPrevious !== undefined && config.tokenSecret === undefined)
    problems.push('`--token-secret-previous` is taken only with `--token-secret` (a rotation keeps both)');
  if (config.apiKeyPrevious !== undefined && config.apiKey === undefined)
    problems.push('`--api-key-previous` is taken only with `--api-key` (a rotation keeps both)');
  return problems;
}
