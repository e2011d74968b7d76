/**
 * The flags of `wsfleet init`, `deploy`, `rollout`, `status` and `teardown`: each a flag and a
 * WSFLEET_* variable (the flag wins), parsed by the shared config parser. What to deploy is in
 * the fleet config file; the flags say how to run.
 */
import { z } from 'zod';
import { option, schemas } from '../../daemons/shared/config.ts';

const configOption = option({
  schema: z.string().min(1).default('wsfleet.yaml'),
  description: 'The fleet config file (YAML or JSON; `wsfleet init` writes one)',
  expected: 'a file',
});

const gcloudOption = option({
  schema: z.string().min(1).default('gcloud'),
  description: 'The gcloud executable: a name looked up on PATH, or a path',
  expected: 'a command name or path',
});

const imageOptions = {
  appImage: option({
    schema: z.string().min(1).optional(),
    description: 'Image of the app VMs (default: app.image in the config, else the newest built one)',
    expected: 'an image name',
  }),
  renewerImage: option({
    schema: z.string().min(1).optional(),
    description: 'Image of the renewer VM (default: renewer.image in the config, else the newest built one)',
    expected: 'an image name',
  }),
  imagesDir: option({
    schema: z.string().min(1).default('dist/images/gce'),
    description: 'Where `wsfleet images build` wrote the gce image manifests',
    expected: 'a folder',
  }),
};

const waitOptions = {
  noWait: option({
    schema: z.boolean().default(false),
    description: 'Do not wait for the VMs to be healthy and the certificates served',
    expected: 'true or false',
    kind: 'flag',
  }),
  waitTimeout: option({
    schema: schemas.int(1, 86_400, 1800),
    description: 'Seconds to wait for healthy VMs and served certificates (exit 1 after)',
    expected: 'an integer from 1 to 86400',
  }),
  pollSeconds: option({
    schema: z.coerce.number().min(0.1).max(600).default(10),
    description: 'Seconds between checks while waiting',
    expected: 'a number from 0.1 to 600',
  }),
};

const settleTimeoutOption = option({
  schema: schemas.int(1, 3600, 600),
  description:
    'Seconds a gcloud call waits for Google to settle: an API enabled moments ago (SERVICE_DISABLED), a service account created moments ago',
  expected: 'an integer from 1 to 3600',
});

const httpsPortOption = option({
  schema: schemas.port(443),
  description: 'Port the load balancer serves TLS on, where certificates are checked',
  expected: 'an integer from 1 to 65535',
});

export const initOptions = {
  config: configOption,
  force: option({
    schema: z.boolean().default(false),
    description: 'Overwrite an existing file',
    expected: 'true or false',
    kind: 'flag',
  }),
  project: option({
    schema: z.string().min(1).optional(),
    description: 'Google Cloud project to write into the file',
    expected: 'a project id',
  }),
  region: option({
    schema: z.string().min(1).optional(),
    description: 'Region to write into the file (zones a, b and c of it)',
    expected: 'a region such as europe-west4',
  }),
  domain: option({
    schema: z.string().min(1).optional(),
    description: 'The name the cluster serves, for the first certificate',
    expected: 'a DNS name',
  }),
  email: option({
    schema: z.string().min(1).optional(),
    description: 'ACME account contact address',
    expected: 'an email address',
  }),
} as const;

export const deployOptions = {
  config: configOption,
  dryRun: option({
    schema: z.boolean().default(false),
    description: 'Print the exact gcloud commands a deploy on an empty project runs; call nothing',
    expected: 'true or false',
    kind: 'flag',
  }),
  ...imageOptions,
  debugAccess: option({
    schema: z.boolean().default(false),
    description:
      'Also open SSH (tcp:22) to the VMs from Identity-Aware Proxy only (35.235.240.0/20), to reach a VM that failed its first boot with `gcloud compute ssh --tunnel-through-iap`; `wsfleet teardown` removes it',
    expected: 'true or false',
    kind: 'flag',
  }),
  noWaitDns: option({
    schema: z.boolean().default(false),
    description:
      "Start the renewer without waiting until each certificate name resolves to the load balancer's address",
    expected: 'true or false',
    kind: 'flag',
  }),
  dnsTimeout: option({
    schema: schemas.int(1, 86_400, 1800),
    description:
      'Seconds to wait for the DNS records before the renewer starts (exit 1 after; a new run continues)',
    expected: 'an integer from 1 to 86400',
  }),
  dnsServer: option({
    schema: z
      .string()
      .regex(/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/)
      .optional(),
    description: "DNS server (IP[:port]) that must return the address; unset: this machine's resolvers",
    expected: 'an IPv4 address with an optional :port',
  }),
  ...waitOptions,
  httpsPort: httpsPortOption,
  settleTimeout: settleTimeoutOption,
  gcloud: gcloudOption,
} as const;

export const rolloutOptions = {
  config: configOption,
  ...imageOptions,
  rotateSecrets: option({
    schema: z.boolean().default(false),
    description:
      'Add a new version of the token secret and the API key and replace the app VMs, which take the new and the previous one (the images stay)',
    expected: 'true or false',
    kind: 'flag',
  }),
  finishRotation: option({
    schema: z.boolean().default(false),
    description:
      'After --rotate-secrets, once tokens of the previous secret have expired: disable the previous versions and replace the app VMs',
    expected: 'true or false',
    kind: 'flag',
  }),
  maxTokenTtl: option({
    schema: schemas.int(1, 366 * 24 * 3600, 24 * 3600),
    description:
      'Seconds the longest-lived token minted from the token secret lasts (--finish-rotation waits it out)',
    expected: 'an integer number of seconds from 1 to 31622400',
  }),
  // gcloud's wait-until polls by itself.
  noWait: waitOptions.noWait,
  waitTimeout: waitOptions.waitTimeout,
  gcloud: gcloudOption,
} as const;

export const statusOptions = {
  config: configOption,
  httpsPort: httpsPortOption,
  gcloud: gcloudOption,
} as const;

export const teardownOptions = {
  config: configOption,
  yes: option({
    schema: z.boolean().default(false),
    description: 'Do not ask for confirmation',
    expected: 'true or false',
    kind: 'flag',
  }),
  deleteData: option({
    schema: z.boolean().default(false),
    description: 'Delete the certificate bucket and everything in it too',
    expected: 'true or false',
    kind: 'flag',
  }),
  gcloud: gcloudOption,
} as const;
