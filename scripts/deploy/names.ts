/**
 * The name of every resource a fleet has, derived from the config's `name` (a prefix), so the
 * deploy, the rollout, the status and the teardown all address the same things.
 */
import type { FleetConfig } from './fleet-config.ts';

export interface FleetNames {
  readonly network: string;
  readonly subnet: string;
  readonly serviceAccount: { readonly app: string; readonly renewer: string };
  /** `id@project.iam.gserviceaccount.com` */
  readonly serviceAccountEmail: { readonly app: string; readonly renewer: string };
  /** Network tags the firewall rules target. */
  readonly tag: { readonly app: string; readonly renewer: string };
  readonly firewall: {
    readonly web: string;
    readonly challenges: string;
    readonly healthChecks: string;
    /** Only with `deploy --debug-access`. */
    readonly iapSsh: string;
  };
  readonly appAddress: string;
  readonly renewerAddress: string;
  /**
   * app: readiness, for the load balancer; appLive: liveness, for the app group's autohealing;
   * renewer: the renewer's liveness (HTTP /livez) for its autohealing; renewerTcp: the TCP check
   * older deploys made in its place (a check's type cannot be changed: only deleted).
   */
  readonly healthCheck: {
    readonly app: string;
    readonly appLive: string;
    readonly renewer: string;
    readonly renewerTcp: string;
  };
  readonly redis: string;
  /** The project custom role that lets the app VMs read Redis's AUTH string (ids take no hyphen). */
  readonly redisAuthRole: string;
  /** Instance templates are `<prefix><hash>`: a new image or user-data gives a new template. */
  readonly templatePrefix: { readonly app: string; readonly renewer: string };
  readonly group: { readonly app: string; readonly renewer: string };
  /** The renewer group's one instance, with its stateful internal address. */
  readonly renewerInstance: string;
  readonly backendService: string;
  readonly forwardingRule: string;
}

export function fleetNames(config: Pick<FleetConfig, 'name' | 'project' | 'region'>): FleetNames {
  const n = config.name;
  const sa = { app: `${n}-app`, renewer: `${n}-renewer` };
  const email = (id: string) => `${id}@${config.project}.iam.gserviceaccount.com`;
  return {
    network: n,
    subnet: `${n}-${config.region}`,
    serviceAccount: sa,
    serviceAccountEmail: { app: email(sa.app), renewer: email(sa.renewer) },
    tag: { app: `${n}-app`, renewer: `${n}-renewer` },
    firewall: {
      web: `${n}-allow-web`,
      challenges: `${n}-allow-challenges`,
      healthChecks: `${n}-allow-health-checks`,
      iapSsh: `${n}-allow-iap-ssh`,
    },
    appAddress: `${n}-app`,
    renewerAddress: `${n}-renewer`,
    healthCheck: {
      app: `${n}-app-http`,
      appLive: `${n}-app-live`,
      renewer: `${n}-renewer-live`,
      renewerTcp: `${n}-renewer-tcp`,
    },
    redis: `${n}-redis`,
    // A fleet name has no underscore, so hyphens to underscores keeps ids of fleets apart.
    redisAuthRole: `${n.replaceAll('-', '_')}_redis_auth`,
    templatePrefix: { app: `${n}-app-`, renewer: `${n}-renewer-` },
    group: { app: `${n}-app`, renewer: `${n}-renewer` },
    renewerInstance: `${n}-renewer-0`,
    backendService: `${n}-app`,
    forwardingRule: `${n}-app`,
  };
}

/** A resource's path relative to the Compute API (what gcloud takes in place of a URL). */
export function regionalPath(
  config: Pick<FleetConfig, 'project' | 'region'>,
  collection: string,
  name: string,
) {
  return `projects/${config.project}/regions/${config.region}/${collection}/${name}`;
}

/** The last segment of a resource URL or path. */
export function lastSegment(link: unknown): string {
  return (
    String(link ?? '')
      .split('/')
      .pop() ?? ''
  );
}
