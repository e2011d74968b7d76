/**
 * Every step of `wsfleet deploy`, in order: what each needs exists before it (network before
 * rules and addresses, accounts before bindings and templates, health checks before groups,
 * groups before the backend service that points at them, the backend service before the
 * forwarding rule that sends traffic to it).
 *
 * In phases, in the order the world needs: the APIs first and alone; the foundation ends with the static address,
 * so its DNS records can be printed first; the app side (Redis takes minutes: time for the
 * records to spread); and only once the names resolve to the address, the renewer, whose
 * self-check and order need them.
 */

import { renderUserData } from '../../cloud-init/render.ts';
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { FleetImages } from './images.ts';
import { type FleetNames, fleetNames, lastSegment, regionalPath } from './names.ts';
import { ensure, firewallStep, foundationSteps, iapSshRule, servicesStep } from './plan-foundation.ts';
import { appGroupStep, renewerGroupSteps } from './plan-groups.ts';
import { redisAuthBindingStep, redisAuthRoleStep } from './plan-redis-access.ts';
import { secretSteps } from './plan-secrets.ts';
import { type Template, templateOf, type UserDataFiles } from './plan-templates.ts';
import type { PlanItem, Step } from './steps.ts';
import { appValues, type RedisAddress, renewerValues } from './user-data.ts';

type Json = Record<string, unknown>;

/** What steps learn for later ones. */
export interface Facts {
  redis?: RedisAddress;
  /** A dry run runs nothing, so what a step would learn stays unknown. */
  readonly dryRun: boolean;
}

/** The load balancer's health check (readiness, /readyz): the config's, or the fleet's own. */
export function appHealthCheck(config: FleetConfig, names: FleetNames): string {
  return config.app.healthCheck === undefined ? names.healthCheck.app : lastSegment(config.app.healthCheck);
}

/**
 * The app group's autohealing check (liveness, /livez): the config's, or the fleet's own. Not
 * readiness: a Redis blip makes every VM unready at once, and autohealing would then recreate
 * them all, while the load balancer only needs to stop sending them clients.
 */
export function appLivenessCheck(config: FleetConfig, names: FleetNames): string {
  return config.app.healthCheck === undefined
    ? names.healthCheck.appLive
    : lastSegment(config.app.healthCheck);
}

/** A regional HTTP health check on port 80 at `path`, its path put right when it differs. */
function httpCheck(config: FleetConfig, name: string, path: string, why: string, timing: string[]): Step {
  const r = `--region=${config.region}`;
  return ensure(
    `health check ${name} (HTTP ${path} on 80, ${why})`,
    ['compute', 'health-checks', 'describe', name, r],
    ['compute', 'health-checks', 'create', 'http', name, r, '--port=80', `--request-path=${path}`, ...timing],
    (found) =>
      (found.httpHealthCheck as Json | undefined)?.requestPath === path
        ? []
        : [['compute', 'health-checks', 'update', 'http', name, r, `--request-path=${path}`]],
  );
}

const CHECK_TIMING = [
  '--check-interval=10s',
  '--timeout=5s',
  '--healthy-threshold=2',
  '--unhealthy-threshold=3',
];

/**
 * The renewer's autohealing check: HTTP /livez on port 80, which the daemon answers itself. Not
 * TCP 80: systemd's socket holds that port and accepts while the daemon is dead.
 */
export function renewerHealthCheckStep(config: FleetConfig, names: FleetNames): Step {
  return httpCheck(
    config,
    names.healthCheck.renewer,
    '/livez',
    "the renewer daemon's liveness, for its autohealing",
    CHECK_TIMING,
  );
}

function healthCheckSteps(config: FleetConfig, names: FleetNames): Step[] {
  const renewer = renewerHealthCheckStep(config, names);
  if (config.app.healthCheck !== undefined) return [renewer];
  return [
    httpCheck(config, names.healthCheck.app, '/readyz', 'readiness, for the load balancer', CHECK_TIMING),
    httpCheck(
      config,
      names.healthCheck.appLive,
      '/livez',
      "liveness, for the app group's autohealing",
      CHECK_TIMING,
    ),
    renewer,
  ];
}

export function redisStep(config: FleetConfig, names: FleetNames, facts: Facts): Step | undefined {
  if (!('create' in config.redis)) return undefined;
  const { tier, sizeGb, version, persistence } = config.redis.create;
  return {
    ...ensure(
      `Redis instance ${names.redis} (${tier}, ${sizeGb} GB; takes minutes)`,
      ['redis', 'instances', 'describe', names.redis, `--region=${config.region}`],
      [
        'redis',
        'instances',
        'create',
        names.redis,
        `--region=${config.region}`,
        `--tier=${tier}`,
        `--size=${sizeGb}`,
        `--redis-version=${version}`,
        `--network=projects/${config.project}/global/networks/${names.network}`,
        '--connect-mode=direct-peering',
        // Closed by default: TLS whose server the app authenticates (the instance's own CA) and
        // AUTH, whose string the app VMs fetch at boot (never in metadata).
        '--transit-encryption-mode=server-authentication',
        '--enable-auth',
        ...(persistence === 'none'
          ? ['--persistence-mode=disabled']
          : ['--persistence-mode=RDB', `--rdb-snapshot-period=${persistence.slice('rdb-'.length)}`]),
      ],
    ),
    learn(resource) {
      const r = resource as Json | undefined;
      if (typeof r?.host === 'string' && (r.state === undefined || r.state === 'READY')) {
        facts.redis = secureRedisOf(r, names.redis);
        return;
      }
      // A create that outlived gcloud's wait (Memorystore often takes 5–15 minutes) leaves the
      // instance CREATING, without an address: the app's template cannot be made yet.
      throw new DeployError(
        'WSFLEET_DEPLOY_PENDING',
        `Redis instance ${names.redis} is ${String(r?.state ?? 'not ready')} and has no address yet; run \`wsfleet deploy\` again in a few minutes (it continues here)`,
      );
    },
  };
}

/**
 * The app's view of a READY instance: rediss:// on its TLS port with the CAs of `serverCaCerts`,
 * and the AUTH string fetched at boot from the instance's resource name. An instance without
 * both (made by hand, or by an older deploy; in-transit encryption cannot be turned on later) is
 * refused rather than used in the clear.
 */
function secureRedisOf(r: Json, name: string): RedisAddress {
  const cas = Array.isArray(r.serverCaCerts)
    ? r.serverCaCerts.flatMap((c) =>
        typeof (c as Json)?.cert === 'string' ? [String((c as Json).cert)] : [],
      )
    : [];
  const missing = [
    ...(r.transitEncryptionMode === 'SERVER_AUTHENTICATION' && cas.length > 0
      ? []
      : ['in-transit encryption']),
    ...(r.authEnabled === true ? [] : ['AUTH']),
  ];
  if (missing.length > 0 || typeof r.name !== 'string')
    throw new DeployError(
      'WSFLEET_DEPLOY_UNSAFE_REDIS',
      `Redis instance ${name} has no ${missing.join(' and ') || 'resource name'}: the app would send its data in the clear or to anyone on the network. Delete it (\`wsfleet teardown --delete-data\`, which loses its history) so the deploy creates it closed, or name a Redis of your own with \`redis: { url: rediss://… }\``,
    );
  return {
    redisHost: String(r.host),
    redisPort: Number(r.port ?? 6378),
    redisCaPem: cas.map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join(''),
    redisInstance: r.name,
  };
}

export function templates(
  config: FleetConfig,
  names: FleetNames,
  images: FleetImages,
  facts: Facts,
  files: UserDataFiles,
): { renewer: Template; app: () => Template } {
  const renewer = templateOf(
    config,
    names,
    { role: 'renewer', image: images.renewer, userData: renderUserData('renewer', renewerValues(config)) },
    files,
  );
  // The app's user-data names Redis, whose address the Redis step learns: built when its turn comes.
  const app = () => {
    const known = 'url' in config.redis || facts.redis !== undefined;
    if (!known && !facts.dryRun) throw new Error('the Redis address is not known yet');
    const userData = known ? renderUserData('app', appValues(config, facts.redis)) : undefined;
    return templateOf(config, names, { role: 'app', image: images.app, userData }, files);
  };
  return { renewer, app };
}

function loadBalancerSteps(config: FleetConfig, names: FleetNames): Step[] {
  const r = `--region=${config.region}`;
  const { sessionAffinity, drainingSeconds } = config.loadBalancer;
  const healthCheck = appHealthCheck(config, names);
  const group = regionalPath(config, 'instanceGroups', names.group.app);
  // A bare health check name goes with --health-checks-region: alone, gcloud takes it as global.
  const settings = [
    `--health-checks=${healthCheck}`,
    `--health-checks-region=${config.region}`,
    `--session-affinity=${sessionAffinity}`,
    `--connection-draining-timeout=${drainingSeconds}`,
  ];
  const addBackend = [
    'compute',
    'backend-services',
    'add-backend',
    names.backendService,
    r,
    `--instance-group=${names.group.app}`,
    `--instance-group-region=${config.region}`,
  ];
  return [
    {
      title: `backend service ${names.backendService} (TCP, ${sessionAffinity}, draining ${drainingSeconds} s)`,
      describe: ['compute', 'backend-services', 'describe', names.backendService, r],
      plan(found) {
        if (found === undefined) {
          const create = ['compute', 'backend-services', 'create', names.backendService, r];
          return [[...create, '--load-balancing-scheme=EXTERNAL', '--protocol=TCP', ...settings], addBackend];
        }
        const bs = found as Json;
        const draining = Number((bs.connectionDraining as Json | undefined)?.drainingTimeoutSec ?? 0);
        const checks = Array.isArray(bs.healthChecks) ? bs.healthChecks.map(String) : [];
        const backends = Array.isArray(bs.backends) ? (bs.backends as Json[]) : [];
        const commands: string[][] = [];
        if (
          bs.sessionAffinity !== sessionAffinity ||
          draining !== drainingSeconds ||
          !checks.some((c) => c.endsWith(`/${regionalPath(config, 'healthChecks', healthCheck)}`))
        )
          commands.push(['compute', 'backend-services', 'update', names.backendService, r, ...settings]);
        if (!backends.some((b) => String(b.group).endsWith(`/${group}`))) commands.push(addBackend);
        return commands;
      },
    },
    ensure(
      `forwarding rule ${names.forwardingRule} (TCP 80, 443 on ${names.appAddress})`,
      ['compute', 'forwarding-rules', 'describe', names.forwardingRule, r],
      [
        'compute',
        'forwarding-rules',
        'create',
        names.forwardingRule,
        r,
        '--load-balancing-scheme=EXTERNAL',
        // The address is PREMIUM; a rule naming no tier gets the project's default, maybe STANDARD.
        '--network-tier=PREMIUM',
        '--ip-protocol=TCP',
        '--ports=80,443',
        `--address=${regionalPath(config, 'addresses', names.appAddress)}`,
        `--backend-service=${regionalPath(config, 'backendServices', names.backendService)}`,
      ],
    ),
  ];
}

export interface DeployPhases {
  /**
   * The APIs, alone: the others read ahead while a step runs, and a read of an API before its
   * enable has finished only fails (SERVICE_DISABLED).
   */
  readonly apis: PlanItem[];
  /** Network, accounts, bucket, firewall rules, addresses. */
  readonly foundation: PlanItem[];
  /** The fleet's secrets, health checks, Redis, the app's template and group, the load balancer. */
  readonly app: PlanItem[];
  /** The renewer's template and group: after DNS. */
  readonly renewer: PlanItem[];
}

/** The deploy's steps, in order. `files` receives the rendered user-data the templates carry. */
export function deployPlan(
  config: FleetConfig,
  images: FleetImages,
  facts: Facts,
  files: UserDataFiles,
): PlanItem[] {
  const phases = deployPhases(config, images, facts, files);
  return [...phases.apis, ...phases.foundation, ...phases.app, ...phases.renewer];
}

/** The deploy's steps by phase (the file comment). */
export function deployPhases(
  config: FleetConfig,
  images: FleetImages,
  facts: Facts,
  files: UserDataFiles,
  { debugAccess = false }: { debugAccess?: boolean } = {},
): DeployPhases {
  const names = fleetNames(config);
  const t = templates(config, names, images, facts, files);
  const redis = redisStep(config, names, facts);
  const healthCheck = appLivenessCheck(config, names);
  // With a Redis URL in the config the app's template is known now; else once Redis exists.
  const appSteps = (): PlanItem[] => {
    if ('url' in config.redis) {
      const template = t.app();
      return [template.step, appGroupStep(config, names, template.name, healthCheck)];
    }
    let template: Template | undefined;
    return [
      () => {
        template = t.app();
        return template.step;
      },
      () => appGroupStep(config, names, (template ?? t.app()).name, healthCheck),
    ];
  };
  return {
    apis: [servicesStep(config)],
    foundation: [
      ...foundationSteps(config, names),
      ...(debugAccess ? [firewallStep(iapSshRule(names), names)] : []),
    ],
    app: [
      // Before any app VM boots: it reads them at boot.
      ...secretSteps(config, names, files, facts.dryRun),
      // Before any app VM boots too: wsfleet-app-redis-auth.service reads the AUTH string.
      ...('create' in config.redis
        ? [redisAuthRoleStep(config, names), redisAuthBindingStep(config, names)]
        : []),
      ...healthCheckSteps(config, names),
      ...(redis === undefined ? [] : [redis]),
      ...appSteps(),
      ...loadBalancerSteps(config, names),
    ],
    renewer: [t.renewer.step, ...renewerGroupSteps(config, names, t.renewer.name, names.healthCheck.renewer)],
  };
}
