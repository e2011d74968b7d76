/**
 * The checks gcloud does not make, or makes only after half a deploy has been created: each
 * returns the problems it finds, so the config is refused whole, before any call.
 *
 * - Session affinity: gcloud accepts every value of the enum, the passthrough load balancer only
 *   four; the API refuses the rest when the backend service is created, late in the deploy.
 * - A regional managed group's surge and unavailable counts are fixed numbers spread over its
 *   zones: each must be 0 or at least the number of zones, and not both 0.
 * - Replacing by `recreate` keeps an instance's name (and a stateful address): no surge then.
 * - A health check named bare: gcloud resolves a bare name to a *global* health check, even next
 *   to `--region`, and a passthrough load balancer and its groups need the regional one.
 */

import { renderUserData } from '../../cloud-init/render.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';
import { ipNumber, renewerAddressOf } from './addresses.ts';
import type { FleetConfig } from './fleet-config.ts';
import { appValues, renewerValues } from './user-data.ts';

/** What an external passthrough network load balancer takes as `sessionAffinity`. */
export const PASSTHROUGH_AFFINITIES = [
  'NONE',
  'CLIENT_IP',
  'CLIENT_IP_PROTO',
  'CLIENT_IP_PORT_PROTO',
] as const;

export interface Rollout {
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly replacement: 'substitute' | 'recreate';
}

/** The app group's update policy, with the surge defaulting to one VM per zone (0 for recreate). */
export function rolloutOf(config: Pick<FleetConfig, 'app' | 'zones'>): Rollout {
  const { rollout } = config.app;
  const surge = rollout.maxSurge ?? (rollout.replacement === 'recreate' ? 0 : config.zones.length);
  return { maxSurge: surge, maxUnavailable: rollout.maxUnavailable, replacement: rollout.replacement };
}

export function affinityProblems(affinity: string): string[] {
  if ((PASSTHROUGH_AFFINITIES as readonly string[]).includes(affinity)) return [];
  return [
    `\`loadBalancer.sessionAffinity\`: ${affinity} is not accepted by an external passthrough network load balancer (TCP); use one of ${PASSTHROUGH_AFFINITIES.join(', ')} (CLIENT_IP keeps a client's reconnects on one VM)`,
  ];
}

export function rolloutProblems(rollout: Rollout, zones: number): string[] {
  const problems: string[] = [];
  for (const key of ['maxSurge', 'maxUnavailable'] as const) {
    const value = rollout[key];
    if (value !== 0 && value < zones) {
      problems.push(
        `\`app.rollout.${key}\`: ${value} is neither 0 nor at least the number of zones (${zones}): a regional group spreads it over its zones`,
      );
    }
  }
  if (rollout.maxSurge === 0 && rollout.maxUnavailable === 0) {
    problems.push('`app.rollout`: maxSurge and maxUnavailable are both 0, so no VM could ever be replaced');
  }
  if (rollout.replacement === 'recreate' && rollout.maxSurge > 0) {
    problems.push(
      `\`app.rollout\`: replacement recreate keeps each VM's name, so it takes no surge (maxSurge ${rollout.maxSurge}); use maxSurge 0 with maxUnavailable, or replacement substitute`,
    );
  }
  return problems;
}

/** A health check reference that names its region: `[projects/P/]regions/R/healthChecks/NAME`. */
export function healthCheckProblems(ref: string, project: string, region: string): string[] {
  const match =
    /^(?:projects\/([^/]+)\/)?regions\/([^/]+)\/healthChecks\/([a-z](?:[-a-z0-9]*[a-z0-9])?)$/.exec(ref);
  if (match === null) {
    return [
      `\`app.healthCheck\`: ${JSON.stringify(ref)} does not name a region; gcloud resolves a bare name to a global health check, and the passthrough load balancer needs a regional one: write regions/${region}/healthChecks/${ref.split('/').pop() ?? ref}`,
    ];
  }
  const problems: string[] = [];
  if (match[1] !== undefined && match[1] !== project)
    problems.push(`\`app.healthCheck\`: project ${match[1]} is not the fleet's project ${project}`);
  if (match[2] !== region)
    problems.push(`\`app.healthCheck\`: region ${match[2]} is not the fleet's region ${region}`);
  return problems;
}

const PRIVATE = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const;

function inRange(ip: number, base: number, bits: number): boolean {
  const size = 2 ** (32 - bits);
  return ip >= base && ip < base + size;
}

export function networkProblems(config: Pick<FleetConfig, 'network'>): string[] {
  const [base = '', bitsText = ''] = config.network.range.split('/');
  const bits = Number(bitsText);
  const start = ipNumber(base);
  const problems: string[] = [];
  if (start % 2 ** (32 - bits) !== 0)
    problems.push(`\`network.range\`: ${config.network.range} is not aligned (the host part must be 0)`);
  if (!PRIVATE.some(([b, size]) => inRange(start, ipNumber(b), size) && bits >= size))
    problems.push(`\`network.range\`: ${config.network.range} is not inside 10/8, 172.16/12 or 192.168/16`);
  const renewer = ipNumber(renewerAddressOf(config));
  const size = 2 ** (32 - bits);
  // GCE reserves the network and gateway addresses and the last two of every subnet.
  if (!inRange(renewer, start, bits) || renewer < start + 2 || renewer >= start + size - 2)
    problems.push(
      `\`network.renewerAddress\`: ${renewerAddressOf(config)} is not a usable address of ${config.network.range}`,
    );
  return problems;
}

function zoneProblems(config: Pick<FleetConfig, 'zones' | 'region'>): string[] {
  const problems = config.zones
    .filter((zone) => !zone.startsWith(`${config.region}-`))
    .map((zone) => `\`zones\`: ${zone} is not in region ${config.region}`);
  if (new Set(config.zones).size !== config.zones.length) problems.push('`zones`: a zone is listed twice');
  return problems;
}

function certificateProblems(config: Pick<FleetConfig, 'certificates'>): string[] {
  const names = config.certificates.flat();
  const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  return twice.length === 0 ? [] : [`\`certificates\`: ${twice.join(', ')} named in more than one place`];
}

/** Rendering each VM's user-data applies the daemons' own option checks to the config's values. */
function userDataProblems(config: FleetConfig): string[] {
  const problems: string[] = [];
  const roles = {
    app: () => renderUserData('app', appValues(config, { redisHost: '10.0.0.2', redisPort: 6379 })),
    renewer: () => renderUserData('renewer', renewerValues(config)),
  };
  for (const [role, render] of Object.entries(roles)) {
    try {
      render();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems.map((p) => `${role} user-data: ${p}`));
    }
  }
  return problems;
}

/** Every problem of a config that passed its schema. */
export function configProblems(config: FleetConfig): string[] {
  return [
    ...zoneProblems(config),
    ...certificateProblems(config),
    ...affinityProblems(config.loadBalancer.sessionAffinity),
    ...rolloutProblems(rolloutOf(config), config.zones.length),
    ...(config.app.healthCheck === undefined
      ? []
      : healthCheckProblems(config.app.healthCheck, config.project, config.region)),
    ...networkProblems(config),
    ...userDataProblems(config),
  ];
}

/**
 * The same rules applied to a gcloud command line about to run: a guard that no step ever names
 * a health check bare or asks a recreate with a surge, whatever built the command.
 */
export function commandProblems(argv: readonly string[]): string[] {
  const flag = (name: string) => argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  const problems: string[] = [];
  const checks = flag('--health-checks');
  if (checks !== undefined && !checks.includes('/') && flag('--health-checks-region') === undefined)
    problems.push(`--health-checks=${checks} names a health check bare (gcloud takes it as global)`);
  const check = flag('--health-check');
  if (check !== undefined && !check.includes('/regions/'))
    problems.push(`--health-check=${check} does not name its region (gcloud takes it as global)`);
  const surge = flag('--max-surge') ?? flag('--update-policy-max-surge');
  const method = flag('--replacement-method') ?? flag('--update-policy-replacement-method');
  if (method === 'recreate' && surge !== undefined && surge !== '0')
    problems.push(`recreate replacement with a surge of ${surge}`);
  return problems;
}
