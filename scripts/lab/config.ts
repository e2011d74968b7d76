/** Every setting of `wsfleet lab …`: a flag and a WSFLEET_* variable each. */
import { z } from 'zod';
import { type Config, option, schemas } from '../../daemons/shared/config.ts';

export const labNameOption = option({
  schema: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,7}$/)
    .default('lab'),
  description: 'Name of the lab: several labs can run side by side (it prefixes namespaces and machines)',
  expected: 'a lower-case letter, then up to 7 letters or digits',
});

export const stateDirOption = option({
  schema: z.string().startsWith('/').default('/run/wsfleet-lab'),
  description: 'Where each lab keeps its state, logs and the VMs’ seeds (<state-dir>/<lab>/)',
  expected: 'an absolute path',
});

export const upOptions = {
  lab: labNameOption,
  domain: option({
    schema: z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/)
      .default('ws.lab.test'),
    description: "The cluster's name: the lab's DNS resolves it to the load balancer",
    expected: 'a DNS name',
  }),
  apps: option({
    schema: schemas.int(1, 8, 2),
    description: 'Number of app VMs',
    expected: 'an integer from 1 to 8',
  }),
  subnet: option({
    schema: z
      .string()
      .regex(/^10\.(?:25[0-5]|2[0-4]\d|1?\d?\d)\.(?:25[0-5]|2[0-4]\d|1?\d?\d)$/)
      .default('10.213.0'),
    description:
      'The lab network, a /24 inside the lab namespace (never on the host): .1 services, .2 the load balancer, .10 the renewer, .11… app VMs',
    expected: 'the first three parts of a 10.x.y.0/24 network, such as 10.213.0',
  }),
  trust: option({
    schema: z.enum(['as-deployed', 'extra-roots']).default('as-deployed'),
    description:
      "How cert-sync trusts Pebble's certificates. as-deployed: exactly as a deploy with the staging directory (`--staging`, no extra roots), Pebble's root standing in for Let's Encrypt's staging roots in the file wsfleet ships; extra-roots: Pebble's root through `--extra-roots`",
    expected: 'as-deployed or extra-roots',
  }),
  redisPersistence: option({
    schema: z.enum(['none', 'rdb']).default('none'),
    description:
      "Redis run as the deploy's Memorystore runs: none (the default tier: a restart loses the history), or rdb (an RDB snapshot every hour, as `persistence: rdb-1h`)",
    expected: 'none or rdb',
  }),
  pollInterval: option({
    schema: schemas.int(1, 3600, 5),
    description: "Seconds between cert-sync's polls of the store on the app VMs",
    expected: 'an integer from 1 to 3600',
  }),
  timeout: option({
    schema: schemas.int(30, 3600, 300),
    description:
      'Seconds `up` may take, image builds excluded, before it gives up (the lab stays up to look at)',
    expected: 'an integer from 30 to 3600',
  }),
  stateDir: stateDirOption,
  cacheDir: option({
    schema: z.string().min(1).optional(),
    description: 'Where local images are cached (default: dist/images/cache in the checkout)',
    expected: 'a folder',
  }),
  bundle: option({
    schema: z.string().min(1).optional(),
    description: 'The bundle the images carry (default: dist/wsfleet.js in the checkout)',
    expected: 'a file',
  }),
} as const;

export const downOptions = { lab: labNameOption, stateDir: stateDirOption } as const;

export const statusOptions = {
  lab: labNameOption,
  stateDir: stateDirOption,
  json: option({
    schema: z.boolean().default(false),
    description: 'Print the status as JSON',
    expected: 'true or false',
    kind: 'flag',
  }),
} as const;

export const forwardOptions = {
  lab: labNameOption,
  stateDir: stateDirOption,
  port: option({
    schema: schemas.portOrZero(8443),
    description: "Port on the host's 127.0.0.1 that reaches the load balancer's --to port (0: any free port)",
    expected: 'an integer from 0 to 65535',
  }),
  to: option({
    schema: schemas.port(443),
    description: "The load balancer's port to reach",
    expected: 'an integer from 1 to 65535',
  }),
} as const;

export const rolloutOptions = {
  lab: labNameOption,
  stateDir: stateDirOption,
  all: option({
    schema: z.boolean().default(false),
    description: 'Replace every app VM, also those that run the current image',
    expected: 'true or false',
    kind: 'flag',
  }),
  timeout: option({
    schema: schemas.int(30, 3600, 300),
    description: 'Seconds each replacement may take',
    expected: 'an integer from 30 to 3600',
  }),
  cacheDir: upOptions.cacheDir,
  bundle: upOptions.bundle,
} as const;

export type UpConfig = Config<typeof upOptions>;
