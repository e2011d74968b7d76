/**
 * The managed instance groups. The renewer: a zonal group of one with autohealing, whose one VM
 * keeps the reserved internal address (a stateful per-instance config), so the app VMs' nginx
 * always finds it; replaced by recreating (same name, same address, never two renewers). The
 * app: a regional group over the fleet's zones with autohealing and proactive rolling updates.
 * A group whose template differs gets a rolling update to the new one.
 */
import { type Rollout, rolloutOf } from './checks.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { Argv } from './gcloud.ts';
import { type FleetNames, lastSegment, regionalPath } from './names.ts';
import { templatePath } from './plan-templates.ts';
import type { Step } from './steps.ts';

type Json = Record<string, unknown>;

/** Seconds a new VM gets to boot and start its daemons before autohealing judges it. */
export const INITIAL_DELAY_SECONDS = 300;

/** The renewer is replaced by recreating: its address and name stay, and one renewer at a time. */
export const RENEWER_ROLLOUT: Rollout = { maxSurge: 0, maxUnavailable: 1, replacement: 'recreate' };

export interface GroupRef {
  readonly name: string;
  /** `--zone=…` or `--region=…` */
  readonly location: string;
}

export function groupRefs(config: FleetConfig, names: FleetNames): { app: GroupRef; renewer: GroupRef } {
  return {
    app: { name: names.group.app, location: `--region=${config.region}` },
    renewer: { name: names.group.renewer, location: `--zone=${config.zones[0] ?? ''}` },
  };
}

/** `gcloud compute instance-groups managed <verb…> GROUP --zone|--region=… <flags…>` */
export function groupCommand(verb: readonly string[], group: GroupRef, ...flags: string[]): Argv {
  return ['compute', 'instance-groups', 'managed', ...verb, group.name, group.location, ...flags];
}

/** The template a group's VMs are (or are being) moved to. */
export function currentTemplate(group: Json): string {
  const versions = Array.isArray(group.versions) ? (group.versions as Json[]) : [];
  return lastSegment(versions[0]?.instanceTemplate ?? group.instanceTemplate);
}

export function startUpdate(config: FleetConfig, group: GroupRef, template: string, rollout: Rollout): Argv {
  return groupCommand(
    ['rolling-action', 'start-update'],
    group,
    `--version=template=${templatePath(config, template)}`,
    '--type=proactive',
    `--max-surge=${rollout.maxSurge}`,
    `--max-unavailable=${rollout.maxUnavailable}`,
    `--replacement-method=${rollout.replacement}`,
  );
}

function policyFlags(rollout: Rollout): string[] {
  return [
    '--update-policy-type=proactive',
    `--update-policy-replacement-method=${rollout.replacement}`,
    `--update-policy-max-surge=${rollout.maxSurge}`,
    `--update-policy-max-unavailable=${rollout.maxUnavailable}`,
  ];
}

function fixed(value: unknown): number | undefined {
  return typeof value === 'object' && value !== null ? Number((value as Json).fixed) : undefined;
}

function samePolicy(found: Json, rollout: Rollout): boolean {
  const policy = (found.updatePolicy ?? {}) as Json;
  return (
    fixed(policy.maxSurge) === rollout.maxSurge &&
    fixed(policy.maxUnavailable) === rollout.maxUnavailable &&
    String(policy.replacementMethod ?? '').toLowerCase() === rollout.replacement &&
    policy.type === 'PROACTIVE'
  );
}

/** Creates a group with autohealing on a regional health check and a proactive update policy. */
function createGroup(
  config: FleetConfig,
  group: GroupRef,
  { template, healthCheck, rollout }: { template: string; healthCheck: string; rollout: Rollout },
  ...flags: string[]
): Argv {
  return groupCommand(
    ['create'],
    group,
    ...flags,
    `--template=${templatePath(config, template)}`,
    `--health-check=${regionalPath(config, 'healthChecks', healthCheck)}`,
    `--initial-delay=${INITIAL_DELAY_SECONDS}`,
    ...policyFlags(rollout),
  );
}

/**
 * Points a group's autohealing at `healthCheck` when it uses another check (the renewer's TCP
 * check of an older deploy); nothing when it already does.
 */
export function healingUpdate(
  config: FleetConfig,
  group: GroupRef,
  found: Json,
  healthCheck: string,
): Argv[] {
  const path = regionalPath(config, 'healthChecks', healthCheck);
  const healing = Array.isArray(found.autoHealingPolicies) ? (found.autoHealingPolicies as Json[]) : [];
  if (healing.some((h) => String(h.healthCheck).endsWith(`/${path}`))) return [];
  return [
    groupCommand(['update'], group, `--health-check=${path}`, `--initial-delay=${INITIAL_DELAY_SECONDS}`),
  ];
}

function describeGroup(group: GroupRef): Argv {
  return groupCommand(['describe'], group);
}

export function renewerGroupSteps(
  config: FleetConfig,
  names: FleetNames,
  template: string,
  healthCheck: string,
): Step[] {
  const group = groupRefs(config, names).renewer;
  const address = regionalPath(config, 'addresses', names.renewerAddress);
  return [
    {
      title: `renewer group ${group.name} (${config.zones[0]}, autohealing)`,
      describe: describeGroup(group),
      plan(found) {
        if (found === undefined) {
          return [
            createGroup(
              config,
              group,
              { template, healthCheck, rollout: RENEWER_ROLLOUT },
              // Its one VM is added next, by name, with the reserved address.
              '--size=0',
              '--stateful-internal-ip=interface-name=nic0,auto-delete=never',
            ),
          ];
        }
        const current = currentTemplate(found as Json);
        return [
          ...(current === template ? [] : [startUpdate(config, group, template, RENEWER_ROLLOUT)]),
          ...healingUpdate(config, group, found as Json, healthCheck),
        ];
      },
    },
    {
      title: `renewer VM ${names.renewerInstance} at ${names.renewerAddress}`,
      describe: groupCommand(['instance-configs', 'list'], group),
      plan(found) {
        const configs = Array.isArray(found) ? (found as Json[]) : [];
        if (configs.some((c) => c.name === names.renewerInstance)) return [];
        return [
          groupCommand(
            ['create-instance'],
            group,
            `--instance=${names.renewerInstance}`,
            `--stateful-internal-ip=interface-name=nic0,address=${address},auto-delete=never`,
          ),
        ];
      },
    },
  ];
}

export function appGroupStep(
  config: FleetConfig,
  names: FleetNames,
  template: string,
  healthCheck: string,
): Step {
  const group = groupRefs(config, names).app;
  const rollout = rolloutOf(config);
  const healthCheckPath = regionalPath(config, 'healthChecks', healthCheck);
  return {
    title: `app group ${group.name} (${config.app.size} VMs over ${config.zones.join(', ')})`,
    describe: describeGroup(group),
    plan(found) {
      if (found === undefined) {
        return [
          createGroup(
            config,
            group,
            { template, healthCheck, rollout },
            `--zones=${config.zones.join(',')}`,
            `--size=${config.app.size}`,
            `--base-instance-name=${group.name}`,
            '--update-policy-minimal-action=replace',
          ),
        ];
      }
      const g = found as Json;
      const commands: Argv[] = [];
      const healing = Array.isArray(g.autoHealingPolicies) ? (g.autoHealingPolicies as Json[]) : [];
      if (
        !samePolicy(g, rollout) ||
        !healing.some((h) => String(h.healthCheck).endsWith(`/${healthCheckPath}`))
      ) {
        commands.push(
          groupCommand(
            ['update'],
            group,
            `--health-check=${healthCheckPath}`,
            `--initial-delay=${INITIAL_DELAY_SECONDS}`,
            ...policyFlags(rollout),
          ),
        );
      }
      if (Number(g.targetSize) !== config.app.size) {
        commands.push(groupCommand(['resize'], group, `--size=${config.app.size}`));
      }
      if (currentTemplate(g) !== template) commands.push(startUpdate(config, group, template, rollout));
      return commands;
    },
  };
}
