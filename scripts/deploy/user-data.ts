/**
 * The VMs' user-data, from the fleet config: renderUserData (cloud-init/render.ts) with the
 * values of each role, so every value goes through its daemon's own option checks. The app VMs
 * forward ACME challenges to the renewer's reserved address and fan out over the fleet's Redis;
 * they read the fleet's secrets and the Redis AUTH string at boot, named in the user-data.
 */
import { type AppValues, type RenewerValues, renderUserData } from '../../cloud-init/render.ts';
import { renewerAddressOf } from './addresses.ts';
import type { FleetConfig } from './fleet-config.ts';
import { secretRefsOf } from './secret-ids.ts';

/** What is known only once the Redis instance exists (its address, its CA, its name). */
export interface RedisAddress {
  readonly redisHost: string;
  readonly redisPort: number;
  /** The instance's server CAs (PEM), from `serverCaCerts`: the only ones the app trusts. */
  readonly redisCaPem?: string;
  /** `projects/P/locations/R/instances/I`, whose AUTH string the VM fetches at boot. */
  readonly redisInstance?: string;
}

export function redisUrlOf(config: FleetConfig, address: RedisAddress | undefined): string | undefined {
  if ('url' in config.redis) return config.redis.url;
  if (address === undefined) return undefined;
  const scheme = address.redisCaPem === undefined ? 'redis' : 'rediss';
  return `${scheme}://${address.redisHost}:${address.redisPort}`;
}

export function appValues(config: FleetConfig, redis: RedisAddress | undefined): AppValues {
  const redisUrl = redisUrlOf(config, redis);
  return {
    certs: config.certificates,
    store: `gs://${config.bucket}`,
    renewer: `${renewerAddressOf(config)}:80`,
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(redis?.redisCaPem === undefined ? {} : { redisCaPem: redis.redisCaPem }),
    ...(redis?.redisInstance === undefined ? {} : { redisAuthFrom: redis.redisInstance }),
    ...(config.app.allowedOrigins === undefined ? {} : { allowedOrigins: config.app.allowedOrigins }),
    ...(config.acme.directory === 'staging' ? { staging: true } : {}),
    clientPublish: config.auth.clientPublish,
    // Closed by default: the app VM reads both from Secret Manager at boot and does not start
    // without them (wsfleet-app-secrets.service); the user-data holds their names only.
    ...secretRefsOf(config),
  };
}

export function renewerValues(config: FleetConfig): RenewerValues {
  const { directory, email } = config.acme;
  return {
    certs: config.certificates,
    store: `gs://${config.bucket}`,
    ...(email === undefined ? {} : { email }),
    ...(directory === 'staging'
      ? { staging: true }
      : directory === 'production'
        ? {}
        : { directoryUrl: directory }),
  };
}

/** Both roles' #cloud-config. Throws ConfigError listing every problem of the values. */
export function renderFleetUserData(
  config: FleetConfig,
  redis: RedisAddress | undefined,
): { readonly app: string; readonly renewer: string } {
  return {
    app: renderUserData('app', appValues(config, redis)),
    renewer: renderUserData('renewer', renewerValues(config)),
  };
}
