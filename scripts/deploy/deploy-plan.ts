/**
 * Every step of `wsfleet deploy`, in order: what each needs exists before it (network before
 * rules and addresses, accounts before bindings and templates, health checks before groups,
 * groups before the backend service that points at them, the backend service before the
 * forwarding rule that sends traffic to it).
 */

import { renderUserData } from '../../cloud-init/render.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { FleetImages } from './images.ts';
import { type FleetNames, fleetNames, lastSegment, regionalPath } from './names.ts';
import { ensure, foundationSteps } from './plan-foundation.ts';
import { appGroupStep, renewerGroupSteps } from './plan-groups.ts';
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

/** The health check the app group and the load balancer use: the config's, or the fleet's own. */
export function appHealthCheck(config: FleetConfig, names: FleetNames): string {
  return config.app.healthCheck === undefined ? names.healthCheck.app : lastSegment(config.app.healthCheck);
}

function healthCheckSteps(config: FleetConfig, names: FleetNames): Step[] {
  const r = `--region=${config.region}`;
  const timing = ['--check-interval=10s', '--timeout=5s', '--healthy-threshold=2', '--unhealthy-threshold=3'];
  const renewer = ensure(
    `health check ${names.healthCheck.renewer} (TCP 80, the renewer's autohealing)`,
    ['compute', 'health-checks', 'describe', names.healthCheck.renewer, r],
    // TCP: the renewer's HTTP /healthz listens on loopback only; port 80 is its challenge server.
    ['compute', 'health-checks', 'create', 'tcp', names.healthCheck.renewer, r, '--port=80', ...timing],
  );
  if (config.app.healthCheck !== undefined) return [renewer];
  return [
    ensure(
      `health check ${names.healthCheck.app} (HTTP /healthz on 80)`,
      ['compute', 'health-checks', 'describe', names.healthCheck.app, r],
      [
        'compute',
        'health-checks',
        'create',
        'http',
        names.healthCheck.app,
        r,
        '--port=80',
        '--request-path=/healthz',
        ...timing,
      ],
    ),
    renewer,
  ];
}

export function redisStep(config: FleetConfig, names: FleetNames, facts: Facts): Step | undefined {
  if (!('create' in config.redis)) return undefined;
  const { tier, sizeGb, version } = config.redis.create;
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
      ],
    ),
    learn(resource) {
      const r = resource as Json | undefined;
      if (typeof r?.host === 'string') facts.redis = { redisHost: r.host, redisPort: Number(r.port ?? 6379) };
    },
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
        '--ip-protocol=TCP',
        '--ports=80,443',
        `--address=${regionalPath(config, 'addresses', names.appAddress)}`,
        `--backend-service=${regionalPath(config, 'backendServices', names.backendService)}`,
      ],
    ),
  ];
}

/** The deploy's steps. `files` receives the rendered user-data the templates carry. */
export function deployPlan(
  config: FleetConfig,
  images: FleetImages,
  facts: Facts,
  files: UserDataFiles,
): PlanItem[] {
  const names = fleetNames(config);
  const t = templates(config, names, images, facts, files);
  const redis = redisStep(config, names, facts);
  const healthCheck = appHealthCheck(config, names);
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
  return [
    ...foundationSteps(config, names),
    ...healthCheckSteps(config, names),
    ...(redis === undefined ? [] : [redis]),
    t.renewer.step,
    ...renewerGroupSteps(config, names, t.renewer.name, names.healthCheck.renewer),
    ...appSteps(),
    ...loadBalancerSteps(config, names),
  ];
}
