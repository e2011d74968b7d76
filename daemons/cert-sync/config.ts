/** Every setting of the cert-sync commands: a flag and a WSFLEET_* variable each (README lists them). */
import { z } from 'zod';
import { certOption, storeOptions } from '../shared/cert-options.ts';
import { type Config, logLevelOption, option, schemas } from '../shared/config.ts';
import { isValidCron } from '../shared/schedule.ts';

/**
 * A command line, as a JSON array (`["nginx","-t"]`) or whitespace-separated words. It is run
 * as an argument list, never through a shell.
 */
export function parseArgv(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (
        Array.isArray(parsed) &&
        parsed.length > 0 &&
        parsed.every((a) => typeof a === 'string' && a !== '')
      )
        return parsed as string[];
    } catch {
      return undefined;
    }
    return undefined;
  }
  const words = trimmed.split(/\s+/).filter((w) => w !== '');
  return words.length > 0 ? words : undefined;
}

const argv = (dflt: readonly string[]) =>
  z
    .string()
    .transform((text, ctx) => {
      const parsed = parseArgv(text);
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: 'not a command' });
        return z.NEVER;
      }
      return parsed as readonly string[];
    })
    .default(dflt);

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `host:port` (or `[v6]:port`), port 1–65535. */
export const hostPort = () =>
  z.string().refine((s) => {
    const port = Number(HOST_PORT.exec(s)?.[2]);
    return port >= 1 && port <= 65535;
  });

export const certSyncOptions = {
  cert: certOption,
  ...storeOptions,
  dir: option({
    schema: z.string().startsWith('/').default('/etc/wsfleet/tls'),
    description: 'Where certificates are installed: live/<name> links to versions/<name>/<serial>-<time>',
    expected: 'an absolute path',
  }),
  pollInterval: option({
    schema: schemas.int(1, 86_400, 300),
    description:
      "Seconds between checks of each certificate's generation in the store; a new certificate reaches every VM within one interval",
    expected: 'an integer from 1 to 86400',
  }),
  firstPollInterval: option({
    schema: schemas.int(1, 86_400, 10),
    description:
      'Seconds between polls while a certificate is not installed yet (a first boot waiting for the renewer); at most --poll-interval',
    expected: 'an integer from 1 to 86400',
  }),
  syncCron: option({
    schema: z.string().refine(isValidCron).default('43 4 * * *'),
    description:
      'When to download and re-check every certificate (cron; a random delay of up to an hour is added)',
    expected: 'a cron expression',
  }),
  extraRoots: option({
    schema: z.string().startsWith('/').optional(),
    description: "PEM file of roots to trust besides the system's (a private CA's, Pebble's)",
    expected: 'an absolute path',
  }),
  staging: option({
    schema: z.boolean().default(false),
    description:
      'Trust Let\'s Encrypt\'s staging roots (shipped with wsfleet) and accept chains that end in one ("(STAGING) …")',
    expected: 'true or false',
    kind: 'flag',
  }),
  nginxConfDir: option({
    schema: z.string().startsWith('/').default('/etc/nginx/conf.d'),
    description: 'Where the nginx server blocks for the certificates are written',
    expected: 'an absolute path',
  }),
  nginxTest: option({
    schema: argv(['nginx', '-t', '-q']),
    description: 'Command that checks the nginx configuration (JSON array or words; never a shell)',
    expected: 'a command as a JSON array of strings or whitespace-separated words',
  }),
  nginxReload: option({
    schema: argv(['systemctl', 'reload', 'nginx.service']),
    description: 'Command that reloads nginx gracefully (JSON array or words; never a shell)',
    expected: 'a command as a JSON array of strings or whitespace-separated words',
  }),
  nginxListen: option({
    schema: z
      .string()
      .regex(/^(\*|\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])$/)
      .default('*'),
    description: 'Address nginx listens on: an IPv4 address, [IPv6] or * (every address)',
    expected: 'an IPv4 address, [IPv6] or *',
  }),
  nginxAccessLog: option({
    schema: z
      .string()
      .regex(/^(off|\/.*)$/)
      .default('/var/log/nginx/access.log'),
    description: "nginx's JSON access log: an absolute path, or off",
    expected: 'an absolute path or off',
  }),
  httpPort: option({
    schema: schemas.port(80),
    description: 'Port nginx serves HTTP on (ACME challenges, redirects)',
    expected: 'an integer from 1 to 65535',
  }),
  httpsPort: option({
    schema: schemas.port(443),
    description: 'Port nginx serves TLS on',
    expected: 'an integer from 1 to 65535',
  }),
  appUpstream: option({
    schema: hostPort().default('127.0.0.1:8080'),
    description: 'Where nginx passes WebSocket and HTTP traffic (the app daemon)',
    expected: 'host:port',
  }),
  renewer: option({
    schema: hostPort(),
    description: 'The renewer (host:port) that nginx forwards /.well-known/acme-challenge/ to',
    expected: 'host:port',
  }),
  verifyHost: option({
    schema: z.string().min(1).default('127.0.0.1'),
    description: 'Address at which cert-sync checks which certificate nginx serves (on --https-port)',
    expected: 'an IP address or host name',
  }),
  metricsHost: option({
    schema: z.string().default('127.0.0.1'),
    description: 'Address for /metrics and /healthz',
    expected: 'an IP address',
  }),
  metricsPort: option({
    schema: schemas.portOrZero(9103),
    description: 'Port for /metrics and /healthz (0 picks a free one)',
    expected: 'an integer from 0 to 65535',
  }),
  logLevel: logLevelOption,
} as const;

export type CertSyncConfig = Config<typeof certSyncOptions>;

/** Problems zod cannot see field by field. */
export function crossProblems(config: Pick<CertSyncConfig, 'cert'>): string[] {
  return config.cert.length === 0 ? ['Give at least one `--cert NAME[,NAME…]` (or WSFLEET_CERT)'] : [];
}
