/**
 * The fleet config: one file (`wsfleet.yaml`, or `.json`) that says what to deploy where. Its
 * schema, with the defaults; reading and checking the file is fleet-file.ts.
 */
import { z } from 'zod';

const gceName = (max: number) =>
  z
    .string()
    .max(max)
    .regex(
      /^[a-z](?:[-a-z0-9]*[a-z0-9])?$/,
      'must be lower-case letters, digits and hyphens, starting with a letter',
    );

const hostname = z
  .string()
  .regex(
    /^(?=.{1,253}$)(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$/,
    'must be a DNS name in lower case',
  );

const ipv4 = z
  .string()
  .regex(/^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/, 'must be an IPv4 address');

/** What `gcloud compute backend-services create --session-affinity` accepts (checks.ts narrows it). */
export const GCLOUD_AFFINITIES = [
  'NONE',
  'CLIENT_IP',
  'CLIENT_IP_PROTO',
  'CLIENT_IP_PORT_PROTO',
  'CLIENT_IP_NO_DESTINATION',
  'GENERATED_COOKIE',
  'HEADER_FIELD',
  'HTTP_COOKIE',
  'STRONG_COOKIE_AFFINITY',
] as const;

const rolloutSchema = z
  .object({
    maxSurge: z.number().int().min(0).optional(),
    maxUnavailable: z.number().int().min(0).default(0),
    replacement: z.enum(['substitute', 'recreate']).default('substitute'),
  })
  .strict()
  .default({ maxUnavailable: 0, replacement: 'substitute' });

export const fleetSchema = z
  .object({
    /** Prefix of every resource name; short enough for `<name>-renewer-<hash>` to fit 63. */
    // At least 2: the app's service account id, `<name>-app`, must have 6 to 30 characters.
    name: gceName(20)
      .min(2, 'must have at least 2 characters (the account id <name>-app needs 6)')
      .default('wsfleet'),
    project: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/,
        'must be a project id (6-30 lower-case letters, digits and hyphens)',
      ),
    region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a region such as europe-west4'),
    zones: z
      .array(z.string().regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, 'must be a zone such as europe-west4-a'))
      .min(1),
    certificates: z.array(z.array(hostname).min(1)).min(1),
    acme: z
      .object({
        email: z.email().optional(),
        directory: z
          .union([z.enum(['staging', 'production']), z.url({ protocol: /^https$/ })])
          .default('staging'),
      })
      .strict()
      .default({ directory: 'staging' }),
    bucket: z
      .string()
      .regex(
        /^[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]$/,
        'must be a bucket name (3-63 lower-case letters, digits, -, _ and .)',
      )
      .refine(
        (s) => !s.startsWith('goog') && !s.includes('google'),
        'may not start with goog or hold google',
      ),
    network: z
      .object({
        /** The subnet of the fleet's own VPC network, in the region. */
        range: z
          .string()
          .regex(/^\d+\.\d+\.\d+\.\d+\/(?:[89]|1\d|2[0-9])$/, 'must be a CIDR range from /8 to /29')
          .default('10.20.0.0/24'),
        /** The renewer's reserved internal address (default: the range's third address). */
        renewerAddress: ipv4.optional(),
      })
      .strict()
      .default({ range: '10.20.0.0/24' }),
    app: z
      .object({
        machineType: z.string().min(1).default('e2-small'),
        size: z.number().int().min(1).max(1000).default(3),
        image: gceName(63).optional(),
        allowedOrigins: z.array(z.string().min(1)).optional(),
        /** An existing regional health check to use instead of creating one. */
        healthCheck: z.string().min(1).optional(),
        rollout: rolloutSchema,
      })
      .strict()
      .default({
        machineType: 'e2-small',
        size: 3,
        rollout: { maxUnavailable: 0, replacement: 'substitute' },
      }),
    renewer: z
      .object({
        machineType: z.string().min(1).default('e2-small'),
        image: gceName(63).optional(),
      })
      .strict()
      .default({ machineType: 'e2-small' }),
    redis: z
      .union([
        z
          .object({
            create: z
              .object({
                tier: z.enum(['basic', 'standard']).default('basic'),
                sizeGb: z.number().int().min(1).max(300).default(1),
                version: z
                  .string()
                  .regex(/^redis_\d+_[x0-9]+$/)
                  .default('redis_7_0'),
                /**
                 * RDB snapshots every 1–24 h, or none: a restart or failover (maintenance) then loses
                 * the history. Memorystore for Redis offers no AOF.
                 */
                persistence: z.enum(['none', 'rdb-1h', 'rdb-6h', 'rdb-12h', 'rdb-24h']).default('none'),
              })
              .strict(),
          })
          .strict(),
        z.object({ url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL') }).strict(),
      ])
      .default({ create: { tier: 'basic', sizeGb: 1, version: 'redis_7_0', persistence: 'none' } }),
    loadBalancer: z
      .object({
        sessionAffinity: z.enum(GCLOUD_AFFINITIES).default('CLIENT_IP'),
        /** Seconds the load balancer keeps a leaving VM's connections: the app drains them meanwhile. */
        drainingSeconds: z.number().int().min(0).max(3600).default(30),
      })
      .strict()
      .default({ sessionAffinity: 'CLIENT_IP', drainingSeconds: 30 }),
    /**
     * Who may use the fleet. The token secret and the API key are made by the deploy and kept in
     * Secret Manager (plan-secrets.ts), never in the config, metadata or templates.
     */
    auth: z
      .object({
        /** Whether WebSocket clients may publish; off: only backends, through the API key. */
        clientPublish: z.boolean().default(false),
      })
      .strict()
      .default({ clientPublish: false }),
  })
  .strict();

export type FleetConfig = z.output<typeof fleetSchema>;
