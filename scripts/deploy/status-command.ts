/**
 * `wsfleet status`: the groups (size, stability, each VM's state, health and template), the image
 * each template pins, and the certificate the load balancer serves for each name with its expiry.
 * Exit 0 when every VM is healthy and every certificate is served; 1 otherwise.
 */
import type { Command } from '../../daemons/shared/command.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { type Io, openFleet, processIo, reportFailures } from './command-io.ts';
import { statusOptions } from './deploy-options.ts';
import type { Gcloud } from './gcloud.ts';
import { lastSegment } from './names.ts';
import { currentTemplate, type GroupRef, groupCommand, groupRefs } from './plan-groups.ts';
import { probeCertificate } from './tls-probe.ts';
import { backendHealth } from './wait.ts';

type Json = Record<string, unknown>;

const USAGE = 'wsfleet status [--config wsfleet.yaml] [flags]';
const SUMMARY =
  "Show the fleet: its groups and VMs with their health and images, and each certificate's expiry as served.";

const DAY = 86_400_000;

async function imageOf(gcloud: Gcloud, template: string, cache: Map<string, string>): Promise<string> {
  const known = cache.get(template);
  if (known !== undefined) return known;
  const found = (await gcloud.describe(['compute', 'instance-templates', 'describe', template])) as
    | Json
    | undefined;
  const properties = (found?.properties ?? {}) as Json;
  const disks = Array.isArray(properties.disks) ? (properties.disks as Json[]) : [];
  const image =
    lastSegment((disks[0]?.initializeParams as Json | undefined)?.sourceImage) || '(template gone)';
  cache.set(template, image);
  return image;
}

/** Lines about one group; false when it is missing or not every VM is running. */
async function groupLines(
  gcloud: Gcloud,
  group: GroupRef,
  health: Map<string, string>,
  images: Map<string, string>,
  lines: string[],
): Promise<boolean> {
  const found = (await gcloud.describe(groupCommand(['describe'], group))) as Json | undefined;
  if (found === undefined) {
    lines.push(`  ${group.name}: not deployed`);
    return false;
  }
  const template = currentTemplate(found);
  const stable = (found.status as Json | undefined)?.isStable === true;
  const listed = await gcloud.run(groupCommand(['list-instances'], group));
  const instances = Array.isArray(listed) ? (listed as Json[]) : [];
  lines.push(
    `  ${group.name}: ${instances.length}/${String(found.targetSize)} VMs, ${stable ? 'stable' : 'updating'}, template ${template} (image ${await imageOf(gcloud, template, images)})`,
  );
  let ok = instances.length === Number(found.targetSize);
  for (const instance of instances) {
    const name = lastSegment(instance.instance);
    const vmTemplate = lastSegment((instance.version as Json | undefined)?.instanceTemplate);
    const state = String(instance.instanceStatus ?? instance.status ?? 'UNKNOWN');
    const healthState = health.get(name);
    if (state !== 'RUNNING' || (healthState !== undefined && healthState !== 'HEALTHY')) ok = false;
    lines.push(
      `    ${name}  ${state}${healthState === undefined ? '' : `  ${healthState}`}  ${vmTemplate} (${await imageOf(gcloud, vmTemplate, images)})`,
    );
  }
  lines.push(
    ...errorLines(
      await gcloud.run(groupCommand(['list-errors'], group)),
      instances.length,
      Number(found.targetSize),
    ),
  );
  return ok;
}

/** How many of a group's errors `status` shows, newest first. */
const ERRORS_SHOWN = 3;

/**
 * The group's recent errors (`list-errors`): the only place that says why a group has no VMs,
 * for example an organization policy that refuses them (CONDITION_NOT_MET).
 */
export function errorLines(listed: unknown, running: number, target: number): string[] {
  const errors = (Array.isArray(listed) ? (listed as Json[]) : [])
    .map((e) => {
      const details = (e.instanceActionDetails ?? {}) as Json;
      const error = (e.error ?? {}) as Json;
      return {
        at: String(e.timestamp ?? ''),
        text: `${String(details.action ?? '')} ${lastSegment(details.instance)}: ${String(error.code ?? 'ERROR')}: ${String(error.message ?? '')}`,
      };
    })
    .sort((a, b) => b.at.localeCompare(a.at));
  if (errors.length === 0) return [];
  const lines = [`    errors (${errors.length}, newest first):`];
  for (const e of errors.slice(0, ERRORS_SHOWN)) lines.push(`      ${e.at} ${e.text}`);
  if (running < target)
    lines.push(
      '    the group cannot make its VMs: fix what the errors name (an organization policy: `gcloud resource-manager org-policies list --project=…`), the group retries by itself',
    );
  return lines;
}

export async function status(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
): Promise<number> {
  const fleet = await openFleet(USAGE, SUMMARY, statusOptions, argv, env, io);
  if (fleet === undefined) return EXIT.OK;
  const { flags, config, names, gcloud } = fleet;
  return reportFailures('status', io, async () => {
    const r = `--region=${config.region}`;
    const lines = [`Fleet ${config.name} in ${config.project} (${config.region})`];
    const rule = (await gcloud.describe([
      'compute',
      'forwarding-rules',
      'describe',
      names.forwardingRule,
      r,
    ])) as Json | undefined;
    const address = rule === undefined ? undefined : String(rule.IPAddress ?? '');
    lines.push(
      `Load balancer: ${address === undefined ? 'not deployed' : `${address}, TCP ${(rule?.ports as string[] | undefined)?.join(', ') ?? ''}`}`,
    );

    const healthOutput =
      rule === undefined
        ? undefined
        : await gcloud.describe(['compute', 'backend-services', 'get-health', names.backendService, r]);
    const health = new Map(backendHealth(healthOutput).states.map((s) => s.split(': ') as [string, string]));
    const images = new Map<string, string>();
    lines.push('Groups:');
    const groups = groupRefs(config, names);
    let ok = rule !== undefined;
    // The renewer is not behind the load balancer: its health is its group's autohealing.
    ok = (await groupLines(gcloud, groups.app, health, images, lines)) && ok;
    ok = (await groupLines(gcloud, groups.renewer, new Map(), images, lines)) && ok;

    lines.push('Certificates (as served on port 443 of the load balancer):');
    for (const set of config.certificates) {
      const name = set[0] as string;
      if (address === undefined) {
        lines.push(`  ${name}: not served (no load balancer)`);
        ok = false;
        continue;
      }
      const served = await probeCertificate(address, flags.httpsPort, name);
      if (!served.ok || served.notAfter === undefined) {
        lines.push(`  ${name}: not served (${served.problem ?? 'unknown'})`);
        ok = false;
        continue;
      }
      const days = Math.floor((served.notAfter.getTime() - Date.now()) / DAY);
      lines.push(
        `  ${name}: expires ${served.notAfter.toISOString()} (in ${days} days), serial ${served.serial ?? '?'}, issuer ${served.issuer ?? '?'}`,
      );
    }
    io.out(`${lines.join('\n')}\n`);
    return ok ? EXIT.OK : EXIT.FAILURE;
  });
}

export const run: Command = (argv, env) => status(argv, env);
