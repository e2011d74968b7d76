/**
 * The deploy's first steps: the APIs, the fleet's own VPC network (so no default rule such as
 * SSH from anywhere applies), a service account per tier, the certificate bucket with access for
 * those accounts on that bucket only, the firewall rules, and the reserved addresses.
 */

import { renewerAddressOf } from './addresses.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { Argv } from './gcloud.ts';
import type { FleetNames } from './names.ts';
import type { Step } from './steps.ts';

type Json = Record<string, unknown>;

/** A step that creates a resource when it is missing and leaves it alone otherwise. */
export function ensure(
  title: string,
  describe: Argv,
  create: Argv,
  reconcile?: (found: Json) => Argv[],
): Step {
  return {
    title,
    describe,
    plan: (found) => (found === undefined ? [create] : (reconcile?.(found as Json) ?? [])),
  };
}

/** The probe ranges of Google's health checks: 35.191/16 and 130.211/22 for autohealing, 35.191/16, 209.85.152/22 and 209.85.204/22 for the passthrough load balancer. */
export const HEALTH_CHECK_RANGES = ['35.191.0.0/16', '130.211.0.0/22', '209.85.152.0/22', '209.85.204.0/22'];

export function requiredServices(config: FleetConfig): string[] {
  return [
    'compute.googleapis.com',
    'iam.googleapis.com',
    'storage.googleapis.com',
    'secretmanager.googleapis.com',
    ...('create' in config.redis ? ['redis.googleapis.com'] : []),
  ];
}

/** Enables the APIs: run on its own, before any other step reads an API (deploy-plan.ts). */
export function servicesStep(config: FleetConfig): Step {
  const wanted = requiredServices(config);
  return {
    title: `APIs ${wanted.map((s) => s.split('.')[0]).join(', ')}`,
    describe: ['services', 'list', '--enabled'],
    plan(found) {
      const enabled = new Set(
        (Array.isArray(found) ? (found as Json[]) : []).map((s) =>
          String(s.name ?? '')
            .split('/')
            .pop(),
        ),
      );
      const missing = wanted.filter((s) => !enabled.has(s));
      return missing.length === 0 ? [] : [['services', 'enable', ...missing]];
    },
  };
}

interface FirewallRule {
  readonly name: string;
  readonly allow: readonly string[];
  readonly sourceRanges?: readonly string[];
  readonly sourceTags?: readonly string[];
  readonly targetTags: readonly string[];
}

export function firewallRules(names: FleetNames): FirewallRule[] {
  return [
    {
      name: names.firewall.web,
      allow: ['tcp:80', 'tcp:443'],
      sourceRanges: ['0.0.0.0/0'],
      targetTags: [names.tag.app],
    },
    // The app VMs' nginx forwards ACME HTTP-01 challenges to the renewer: nothing else reaches it.
    {
      name: names.firewall.challenges,
      allow: ['tcp:80'],
      sourceTags: [names.tag.app],
      targetTags: [names.tag.renewer],
    },
    {
      name: names.firewall.healthChecks,
      allow: ['tcp:80'],
      sourceRanges: HEALTH_CHECK_RANGES,
      targetTags: [names.tag.app, names.tag.renewer],
    },
  ];
}

/** Where Identity-Aware Proxy's TCP forwarding connects from (Google's documented range). */
export const IAP_RANGE = '35.235.240.0/20';

/**
 * SSH from IAP only, for a VM that failed its first boot: `gcloud compute ssh VM
 * --tunnel-through-iap` (OS Login decides who). Made only with `deploy --debug-access`.
 */
export function iapSshRule(names: FleetNames): FirewallRule {
  return {
    name: names.firewall.iapSsh,
    allow: ['tcp:22'],
    sourceRanges: [IAP_RANGE],
    targetTags: [names.tag.app, names.tag.renewer],
  };
}

function ruleFlags(rule: FirewallRule): string[] {
  return [
    `--rules=${rule.allow.join(',')}`,
    ...(rule.sourceRanges === undefined ? [] : [`--source-ranges=${rule.sourceRanges.join(',')}`]),
    ...(rule.sourceTags === undefined ? [] : [`--source-tags=${rule.sourceTags.join(',')}`]),
    `--target-tags=${rule.targetTags.join(',')}`,
  ];
}

const sorted = (values: unknown): string =>
  Array.isArray(values) ? values.map(String).sort().join(',') : '';

export function firewallStep(rule: FirewallRule, names: FleetNames): Step {
  return ensure(
    `firewall rule ${rule.name} (${rule.allow.join(',')})`,
    ['compute', 'firewall-rules', 'describe', rule.name],
    [
      'compute',
      'firewall-rules',
      'create',
      rule.name,
      `--network=${names.network}`,
      '--direction=INGRESS',
      '--action=ALLOW',
      ...ruleFlags(rule),
    ],
    (found) => {
      const allowed = (Array.isArray(found.allowed) ? (found.allowed as Json[]) : []).flatMap((a) =>
        (Array.isArray(a.ports) ? a.ports : ['']).map((p) => `${String(a.IPProtocol)}:${String(p)}`),
      );
      const same =
        sorted(allowed) === sorted(rule.allow) &&
        sorted(found.sourceRanges) === sorted(rule.sourceRanges ?? []) &&
        sorted(found.sourceTags) === sorted(rule.sourceTags ?? []) &&
        sorted(found.targetTags) === sorted(rule.targetTags);
      return same ? [] : [['compute', 'firewall-rules', 'update', rule.name, ...ruleFlags(rule)]];
    },
  );
}

/** An IAM condition (CEL) on a bucket binding; neither part may hold a comma (gcloud's KEY=VALUE list). */
export interface BindingCondition {
  readonly title: string;
  readonly expression: string;
}

/**
 * What the app VMs may read: the certificates (`certs/`, what cert-sync needs) and nothing else
 * of the bucket — not the ACME account key (`accounts/`), not the renewer state with its pending
 * order key (`state/`). cert-sync only gets objects by name, never lists, so an object-name
 * condition is enough.
 */
export function appReadCondition(bucket: string): BindingCondition {
  return {
    title: 'wsfleet-certs-only',
    expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/certs/")`,
  };
}

/**
 * gcloud refuses, in non-interactive mode, to add or remove a binding without a condition on a
 * policy that holds conditional bindings unless told `--condition=None`.
 */
function conditionFlag(condition: BindingCondition | undefined, policyHasConditions: boolean): string[] {
  if (condition === undefined) return policyHasConditions ? ['--condition=None'] : [];
  return [`--condition=expression=${condition.expression},title=${condition.title}`];
}

/**
 * The IAM binding of `member` on the bucket alone (never a project-wide role): added by the
 * deploy (with `condition`, when given: a binding of the same role without it, left by an older
 * deploy, is removed), removed by a teardown that keeps the bucket (whatever its condition).
 */
export function bucketBindingStep(
  bucket: string,
  member: string,
  role: string,
  mode: 'add' | 'remove' = 'add',
  condition?: BindingCondition,
): Step {
  return {
    title: `${role} on gs://${bucket} for ${member.replace(/^serviceAccount:/, '')}${condition ? ` (${condition.title})` : ''}`,
    describe: ['storage', 'buckets', 'get-iam-policy', `gs://${bucket}`],
    plan(found) {
      const policy = found as Json | undefined;
      const bindings = Array.isArray(policy?.bindings) ? (policy.bindings as Json[]) : [];
      const ours = bindings.filter(
        (b) => b.role === role && Array.isArray(b.members) && b.members.includes(member),
      );
      const conditionOf = (b: Json): BindingCondition | undefined => {
        const c = b.condition as Json | undefined;
        return typeof c?.expression === 'string' && typeof c.title === 'string'
          ? { title: c.title, expression: c.expression }
          : undefined;
      };
      const target = `gs://${bucket}`;
      // After an add of ours the policy holds a condition too.
      const hasConditions =
        bindings.some((b) => conditionOf(b) !== undefined) || (mode === 'add' && condition !== undefined);
      const remove = (b: Json) => [
        'storage',
        'buckets',
        'remove-iam-policy-binding',
        target,
        `--member=${member}`,
        `--role=${role}`,
        ...conditionFlag(conditionOf(b), hasConditions),
      ];
      if (mode === 'remove') return ours.map(remove);
      const wanted = (b: Json) =>
        conditionOf(b)?.expression === condition?.expression && conditionOf(b)?.title === condition?.title;
      const commands = ours.filter((b) => !wanted(b)).map(remove);
      if (!ours.some(wanted))
        commands.unshift([
          'storage',
          'buckets',
          'add-iam-policy-binding',
          target,
          `--member=${member}`,
          `--role=${role}`,
          ...conditionFlag(
            condition,
            bindings.some((b) => conditionOf(b) !== undefined),
          ),
        ]);
      return commands;
    },
  };
}

export const BUCKET_ROLES = {
  renewer: 'roles/storage.objectAdmin',
  app: 'roles/storage.objectViewer',
} as const;

export function foundationSteps(config: FleetConfig, names: FleetNames): Step[] {
  const r = `--region=${config.region}`;
  const bucket = `gs://${config.bucket}`;
  const account = (role: 'app' | 'renewer', what: string) =>
    ensure(
      `service account ${names.serviceAccount[role]}`,
      ['iam', 'service-accounts', 'describe', names.serviceAccountEmail[role]],
      [
        'iam',
        'service-accounts',
        'create',
        names.serviceAccount[role],
        `--display-name=wsfleet ${role} VMs`,
        `--description=${what}`,
      ],
    );
  return [
    ensure(
      `VPC network ${names.network}`,
      ['compute', 'networks', 'describe', names.network],
      ['compute', 'networks', 'create', names.network, '--subnet-mode=custom'],
    ),
    ensure(
      `subnet ${names.subnet} (${config.network.range})`,
      ['compute', 'networks', 'subnets', 'describe', names.subnet, r],
      [
        'compute',
        'networks',
        'subnets',
        'create',
        names.subnet,
        `--network=${names.network}`,
        r,
        `--range=${config.network.range}`,
        // The app VMs have no external address: they reach the bucket through Google's private access.
        '--enable-private-ip-google-access',
      ],
      (found) =>
        found.privateIpGoogleAccess === true
          ? []
          : [
              [
                'compute',
                'networks',
                'subnets',
                'update',
                names.subnet,
                r,
                '--enable-private-ip-google-access',
              ],
            ],
    ),
    account('renewer', `Renewer VM: writes certificates to ${bucket}`),
    account('app', `App VMs: read certificates from ${bucket}`),
    ensure(
      `bucket ${bucket}`,
      ['storage', 'buckets', 'describe', bucket],
      [
        'storage',
        'buckets',
        'create',
        bucket,
        `--location=${config.region}`,
        '--default-storage-class=STANDARD',
        '--uniform-bucket-level-access',
        '--public-access-prevention',
      ],
      (found) =>
        found.uniform_bucket_level_access === true && found.public_access_prevention === 'enforced'
          ? []
          : [
              [
                'storage',
                'buckets',
                'update',
                bucket,
                '--uniform-bucket-level-access',
                '--public-access-prevention',
              ],
            ],
    ),
    bucketBindingStep(
      config.bucket,
      `serviceAccount:${names.serviceAccountEmail.renewer}`,
      BUCKET_ROLES.renewer,
    ),
    bucketBindingStep(
      config.bucket,
      `serviceAccount:${names.serviceAccountEmail.app}`,
      BUCKET_ROLES.app,
      'add',
      appReadCondition(config.bucket),
    ),
    ...firewallRules(names).map((rule) => firewallStep(rule, names)),
    ensure(
      `static external address ${names.appAddress}`,
      ['compute', 'addresses', 'describe', names.appAddress, r],
      ['compute', 'addresses', 'create', names.appAddress, r, '--network-tier=PREMIUM'],
    ),
    ensure(
      `internal address ${names.renewerAddress} (${renewerAddressOf(config)})`,
      ['compute', 'addresses', 'describe', names.renewerAddress, r],
      [
        'compute',
        'addresses',
        'create',
        names.renewerAddress,
        r,
        `--subnet=${names.subnet}`,
        `--addresses=${renewerAddressOf(config)}`,
      ],
    ),
  ];
}
