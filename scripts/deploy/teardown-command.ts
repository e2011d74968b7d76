/**
 * `wsfleet teardown`: deletes what the deploy created, in reverse order (what sends traffic
 * first, what everything stands on last), each step skipped when its resource is already gone,
 * so a teardown that failed halfway continues. It asks first (`--yes` skips the question) and
 * keeps the certificate bucket unless `--delete-data`: certificates and the ACME account survive
 * a rebuild, and Let's Encrypt's weekly limit is not spent again. Kept, the bucket loses the
 * fleet's bindings, whose accounts are deleted.
 */
import type { Command } from '../../daemons/shared/command.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { type Io, openFleet, processIo, reportFailures } from './command-io.ts';
import { teardownOptions } from './deploy-options.ts';
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { Argv } from './gcloud.ts';
import type { FleetNames } from './names.ts';
import { BUCKET_ROLES, bucketBindingStep, firewallRules, iapSshRule } from './plan-foundation.ts';
import { type GroupRef, groupCommand, groupRefs } from './plan-groups.ts';
import { redisAuthBindingStep } from './plan-redis-access.ts';
import { secretBindingStep, secretIdsOf } from './plan-secrets.ts';
import { applySteps, type Step } from './steps.ts';

type Json = Record<string, unknown>;

const USAGE = 'wsfleet teardown [--config wsfleet.yaml] [--yes] [--delete-data] [flags]';
const SUMMARY = [
  'Delete the fleet in reverse order of the deploy. Asks first (--yes skips the question); keeps the',
  'certificate bucket unless --delete-data.',
].join('\n');

function removal(title: string, describe: Argv, remove: Argv): Step {
  return { title, describe, plan: (found) => (found === undefined ? [] : [remove]) };
}

export function teardownPlan(config: FleetConfig, names: FleetNames, deleteData: boolean): Step[] {
  const r = `--region=${config.region}`;
  const groups = groupRefs(config, names);
  const prefixes = [names.templatePrefix.app, names.templatePrefix.renewer];
  const bucket = `gs://${config.bucket}`;
  const compute = (collection: string, name: string, ...where: string[]) =>
    removal(
      `${collection.replace(/-/g, ' ').replace(/s$/, '')} ${name}`,
      ['compute', collection, 'describe', name, ...where],
      ['compute', collection, 'delete', name, ...where],
    );
  const group = (g: GroupRef) =>
    removal(`group ${g.name}`, groupCommand(['describe'], g), groupCommand(['delete'], g));
  const account = (email: string) =>
    removal(
      `service account ${email}`,
      ['iam', 'service-accounts', 'describe', email],
      ['iam', 'service-accounts', 'delete', email],
    );
  return [
    compute('forwarding-rules', names.forwardingRule, r),
    compute('backend-services', names.backendService, r),
    group(groups.app),
    group(groups.renewer),
    {
      title: `instance templates ${prefixes.map((p) => `${p}*`).join(', ')}`,
      // Exactly <name>-<role>-<10 hex digits>: a fleet named `<name>-app` has templates that
      // start with `<name>-app-` too, and they are not this fleet's.
      describe: [
        'compute',
        'instance-templates',
        'list',
        `--filter=name ~ "^${config.name}-(app|renewer)-[0-9a-f]{10}$"`,
      ],
      plan(found) {
        const listed = Array.isArray(found) ? (found as Json[]) : [];
        const ours = new RegExp(`^${config.name}-(app|renewer)-[0-9a-f]{10}$`);
        const doomed = listed.map((t) => String(t.name)).filter((n) => ours.test(n));
        // One per command: gcloud sends several names as one HTTP batch request.
        return doomed.sort().map((name) => ['compute', 'instance-templates', 'delete', name]);
      },
    },
    ...(config.app.healthCheck === undefined
      ? [
          compute('health-checks', names.healthCheck.app, r),
          compute('health-checks', names.healthCheck.appLive, r),
        ]
      : []),
    compute('health-checks', names.healthCheck.renewer, r),
    // Older deploys checked the renewer over TCP: gone with the fleet too.
    compute('health-checks', names.healthCheck.renewerTcp, r),
    ...('create' in config.redis
      ? [
          removal(
            `Redis instance ${names.redis}`,
            ['redis', 'instances', 'describe', names.redis, r],
            ['redis', 'instances', 'delete', names.redis, r],
          ),
        ]
      : []),
    compute('addresses', names.appAddress, r),
    compute('addresses', names.renewerAddress, r),
    ...[...firewallRules(names), iapSshRule(names)].map((rule) => compute('firewall-rules', rule.name)),
    ...(deleteData
      ? [
          removal(
            `bucket ${bucket} and every object in it`,
            ['storage', 'buckets', 'describe', bucket],
            ['storage', 'rm', '--recursive', bucket],
          ),
        ]
      : [
          bucketBindingStep(
            config.bucket,
            `serviceAccount:${names.serviceAccountEmail.renewer}`,
            BUCKET_ROLES.renewer,
            'remove',
          ),
          bucketBindingStep(
            config.bucket,
            `serviceAccount:${names.serviceAccountEmail.app}`,
            BUCKET_ROLES.app,
            'remove',
          ),
        ]),
    // Kept like the bucket, the secrets and the Redis AUTH role lose the app account's grants
    // first: once the account is deleted they would linger as `deleted:serviceAccount:…`.
    ...Object.values(secretIdsOf(config)).map((id) =>
      secretBindingStep(id, `serviceAccount:${names.serviceAccountEmail.app}`, 'remove'),
    ),
    ...('create' in config.redis ? [redisAuthBindingStep(config, names, 'remove')] : []),
    account(names.serviceAccountEmail.renewer),
    account(names.serviceAccountEmail.app),
    removal(
      `subnet ${names.subnet}`,
      ['compute', 'networks', 'subnets', 'describe', names.subnet, r],
      ['compute', 'networks', 'subnets', 'delete', names.subnet, r],
    ),
    compute('networks', names.network),
  ];
}

async function confirm(config: FleetConfig, deleteData: boolean, io: Io): Promise<void> {
  const what = `every resource of fleet ${config.name} in project ${config.project}${deleteData ? `, and bucket gs://${config.bucket} with every certificate in it` : ''}`;
  if (io.ask === undefined) {
    throw new DeployError(
      'WSFLEET_TEARDOWN_UNCONFIRMED',
      `this deletes ${what}; there is no terminal to ask, so pass --yes to go on`,
    );
  }
  const answer = await io.ask(`This deletes ${what}.\nType the project id (${config.project}) to go on: `);
  if (answer.trim() !== config.project) {
    throw new DeployError('WSFLEET_TEARDOWN_UNCONFIRMED', 'not confirmed: nothing was deleted');
  }
}

export async function teardown(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
): Promise<number> {
  const fleet = await openFleet(USAGE, SUMMARY, teardownOptions, argv, env, io);
  if (fleet === undefined) return EXIT.OK;
  const { flags, config, names, gcloud, progress } = fleet;
  return reportFailures('teardown', io, async () => {
    if (!flags.yes) await confirm(config, flags.deleteData, io);
    const steps = teardownPlan(config, names, flags.deleteData);
    progress.step(
      `tearing down ${config.name} in ${config.project} (${config.region}): ${steps.length} steps`,
    );
    const summary = await applySteps(steps, gcloud, progress, { mode: 'remove' });
    progress.step(`torn down: ${summary.changed} deleted, ${summary.unchanged} were not there`);
    if (!flags.deleteData) {
      progress.step(
        `kept gs://${config.bucket} (certificates and the ACME account); --delete-data deletes it`,
      );
    }
    return EXIT.OK;
  });
}

/** Asks on the terminal when there is one. */
async function askTerminal(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

export const run: Command = (argv, env) =>
  teardown(argv, env, process.stdin.isTTY ? { ...processIo, ask: askTerminal } : processIo);
