/** Every setting of the renewer commands: a flag and a WSFLEET_* variable each (README lists them). */
import { hostname } from 'node:os';
import { z } from 'zod';
import { certOption, storeOptions } from '../shared/cert-options.ts';
import { type Config, logLevelOption, option, schemas } from '../shared/config.ts';
import { isValidCron } from '../shared/schedule.ts';

export {
  type CertificateSpec,
  nameProblem,
  openCertStore,
  storeOptions,
} from '../shared/cert-options.ts';

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export const acmeOptions = {
  email: option({
    schema: z.string().email().optional(),
    description: 'Contact address for the ACME account (expiry and policy mail)',
    expected: 'an email address',
  }),
  directoryUrl: option({
    schema: schemas.url(['https:', 'http:']).optional(),
    description: "ACME directory (default: Let's Encrypt production)",
    expected: 'an https:// URL',
  }),
  directoryCa: option({
    schema: z.string().startsWith('/').optional(),
    description:
      "PEM file of CA certificates trusted for the ACME directory's HTTPS besides the system's (a private or test CA)",
    expected: 'an absolute path',
  }),
  staging: option({
    schema: z.boolean().default(false),
    description: "Use Let's Encrypt staging (untrusted certificates, generous limits)",
    expected: 'true or false',
    kind: 'flag',
  }),
  eabKid: option({
    schema: z.string().min(1).optional(),
    description: 'External account binding key id, for CAs that require one',
    expected: 'a key id',
  }),
  eabHmacKey: option({
    schema: z.string().min(1).optional(),
    description: 'External account binding HMAC key (base64url)',
    expected: 'a base64url key',
    secret: true,
  }),
  profile: option({
    schema: z.enum(['classic', 'tlsserver', 'shortlived']).optional(),
    description: 'ACME certificate profile to ask for',
    expected: 'classic, tlsserver or shortlived',
  }),
} as const;

export const renewerOptions = {
  cert: certOption,
  ...storeOptions,
  ...acmeOptions,
  httpHost: option({
    schema: z.string().default('0.0.0.0'),
    description: 'Address for HTTP-01 challenges (ignored when systemd passes the socket)',
    expected: 'an IP address',
  }),
  httpPort: option({
    schema: schemas.portOrZero(80),
    description: 'Port for HTTP-01 challenges (ignored when systemd passes the socket)',
    expected: 'an integer from 0 to 65535',
  }),
  selfCheck: option({
    schema: z.boolean().default(true),
    description: 'Check that each name reaches this renewer over HTTP before ordering',
    expected: 'true or false',
    kind: 'flag',
  }),
  selfCheckPort: option({
    schema: schemas.port(80),
    description: 'Port the self-check connects to on each name (where the CA will connect)',
    expected: 'an integer from 1 to 65535',
  }),
  dnsServer: option({
    schema: z
      .string()
      .regex(/^[\d.]+(:\d+)?$/)
      .optional(),
    description: 'DNS server (IP[:port]) for the self-check; unset: the system resolver',
    expected: 'an IPv4 address with an optional :port',
  }),
  metricsHost: option({
    schema: z.string().default('127.0.0.1'),
    description: 'Address for /metrics and /healthz',
    expected: 'an IP address',
  }),
  metricsPort: option({
    schema: schemas.portOrZero(9102),
    description: 'Port for /metrics and /healthz (0 picks a free one)',
    expected: 'an integer from 0 to 65535',
  }),
  controlSocket: option({
    schema: z.string().default('/run/wsfleet-renewer/control.sock'),
    description: 'Unix socket on which `wsfleet renewer renew` reaches the running daemon',
    expected: 'a file path',
  }),
  leaseSeconds: option({
    schema: schemas.int(5, 3600, 600),
    description: 'Seconds of the issuance lock lease; renewed every third of it while an order runs',
    expected: 'an integer from 5 to 3600',
  }),
  checkCron: option({
    schema: z.string().refine(isValidCron).default('17 3,15 * * *'),
    description:
      'When to check every certificate (cron, at least twice a day; a random delay of up to an hour is added)',
    expected: 'a cron expression',
  }),
  owner: option({
    schema: z.string().max(200).default(`${hostname()}:${process.pid}`),
    description: 'Name of this renewer in issuance locks',
    expected: 'a name',
  }),
  logLevel: logLevelOption,
} as const;

export type RenewerConfig = Config<typeof renewerOptions>;

/** The ACME directory the flags select; both --staging and --directory-url is a problem. */
export function directoryUrl(config: { staging: boolean; directoryUrl?: string | undefined }): string {
  if (config.directoryUrl !== undefined) return config.directoryUrl;
  return config.staging ? LETSENCRYPT_STAGING : LETSENCRYPT_PRODUCTION;
}

/** Problems zod cannot see field by field. */
export function crossProblems(config: {
  staging: boolean;
  directoryUrl?: string | undefined;
  eabKid?: string | undefined;
  eabHmacKey?: string | undefined;
}): string[] {
  const problems: string[] = [];
  if (config.staging && config.directoryUrl !== undefined) {
    problems.push('Give either `--staging` or `--directory-url`, not both');
  }
  if ((config.eabKid === undefined) !== (config.eabHmacKey === undefined)) {
    problems.push('`--eab-kid` and `--eab-hmac-key` go together');
  }
  return problems;
}
