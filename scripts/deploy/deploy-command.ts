/** `wsfleet deploy [--dry-run]`: from the fleet config to a running cluster, idempotently. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../../daemons/shared/command.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { type Io, openFleet, processIo, reportFailures } from './command-io.ts';
import { deployOptions } from './deploy-options.ts';
import { deployPhases, type Facts } from './deploy-plan.ts';
import { createAddressResolver, waitForDns } from './dns-wait.ts';
import type { FleetConfig } from './fleet-config.ts';
import { createGcloud, type Gcloud } from './gcloud.ts';
import { resolveImages } from './images.ts';
import type { FleetNames } from './names.ts';
import { deployPreflight } from './preflight.ts';
import { applySteps, planText, type Summary } from './steps.ts';
import { waitForCluster } from './wait.ts';

const USAGE = 'wsfleet deploy [--config wsfleet.yaml] [--dry-run] [flags]';
const SUMMARY = [
  'Create or update everything the fleet config describes, in order: APIs, network, service',
  'accounts, bucket and its access, firewall rules and addresses; then prints the DNS records to',
  'set; health checks, Redis, the app template and group and the load balancer; then waits until',
  "each name resolves to the load balancer's address (--no-wait-dns: not) before the renewer's",
  'template and group. Each step first checks what exists, so a second run creates nothing and a',
  'run after a failure continues. Then waits until the VMs are healthy and the certificates served.',
].join('\n');

/** The DNS records that point the certificates' names at the load balancer. */
export function dnsRecords(config: FleetConfig, address: string): string[] {
  return [...new Set(config.certificates.flat())].map((name) => `${name}. 300 IN A ${address}`);
}

async function staticAddress(config: FleetConfig, names: FleetNames, gcloud: Gcloud): Promise<string> {
  const found = (await gcloud.describe([
    'compute',
    'addresses',
    'describe',
    names.appAddress,
    `--region=${config.region}`,
  ])) as { address?: unknown } | undefined;
  return String(found?.address ?? '');
}

export async function deploy(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
): Promise<number> {
  const fleet = await openFleet(USAGE, SUMMARY, deployOptions, argv, env, io);
  if (fleet === undefined) return EXIT.OK;
  const { flags, config, names, gcloud, progress } = fleet;
  const images = await resolveImages(config, flags);
  const files = { dir: await mkdtemp(join(tmpdir(), 'wsfleet-deploy-')) };
  const facts: Facts = { dryRun: flags.dryRun };
  try {
    const phases = deployPhases(config, images, facts, files, { debugAccess: flags.debugAccess });
    const total = phases.apis.length + phases.foundation.length + phases.app.length + phases.renewer.length;
    const first = { before: phases.apis.length, total };
    const second = { before: first.before + phases.foundation.length, total };
    const third = { before: second.before + phases.app.length, total };
    const names1 = [...new Set(config.certificates.flat())];
    if (flags.dryRun) {
      io.out(
        `# wsfleet deploy --dry-run: ${config.name} in ${config.project} (${config.region}); app image ${images.app}, renewer image ${images.renewer}\n`,
      );
      io.out(planText(phases.apis, gcloud, { before: 0, total }));
      io.out(planText(phases.foundation, gcloud, first));
      io.out(
        `# DNS: here the deploy prints an A record to the address of ${names.appAddress} for ${names1.join(', ')}\n`,
      );
      io.out(planText(phases.app, gcloud, second));
      io.out(
        `# DNS: here the deploy waits (--dns-timeout ${flags.dnsTimeout} s) until each name resolves to that address${flags.noWaitDns ? ' (not with --no-wait-dns)' : ''}; the renewer starts after\n`,
      );
      io.out(planText(phases.renewer, gcloud, third));
      io.out(`# The user-data files named above are in ${files.dir}\n`);
      return EXIT.OK;
    }
    return await reportFailures('deploy', io, async () => {
      progress.step(`deploying ${config.name} to ${config.project} (${config.region}): ${total} steps`);
      const parts: Summary[] = [];
      // Nothing reads an API before its enable has finished: the APIs are a run of their own.
      parts.push(await applySteps(phases.apis, gcloud, progress, { numbering: { before: 0, total } }));
      progress.step('checking the images (UEFI_COMPATIBLE) and the organization policies');
      const quick = createGcloud({
        gcloud: String(flags.gcloud),
        project: config.project,
        env,
        timeoutMs: 60_000,
        settleTimeoutMs: 0,
      });
      await deployPreflight(config, images, {
        describe: (args) => gcloud.describe(args),
        quick: (args) => quick.run(args),
      });
      parts.push(await applySteps(phases.foundation, gcloud, progress, { numbering: first }));
      const address = await staticAddress(config, names, gcloud);
      io.out(`\nPoint the names at the load balancer (${address}) with these DNS A records:\n`);
      for (const record of dnsRecords(config, address)) io.out(`  ${record}\n`);
      io.out('\n');
      parts.push(await applySteps(phases.app, gcloud, progress, { numbering: second }));
      if (flags.noWaitDns)
        progress.step('DNS: not waited for (--no-wait-dns); the renewer retries its self-check');
      else
        await waitForDns(progress, {
          names: names1,
          address,
          resolver: createAddressResolver(flags.dnsServer),
          timeoutMs: flags.dnsTimeout * 1000,
          pollMs: flags.pollSeconds * 1000,
        });
      parts.push(await applySteps(phases.renewer, gcloud, progress, { numbering: third }));
      const summary = {
        changed: parts.reduce((n, p) => n + p.changed, 0),
        unchanged: parts.reduce((n, p) => n + p.unchanged, 0),
        total,
      };
      progress.step(
        summary.changed === 0
          ? `nothing to do: all ${summary.total} steps were up to date, nothing was created`
          : `deployed: ${summary.changed} steps created or updated something, ${summary.unchanged} were up to date`,
      );
      if (!flags.noWait) {
        await waitForCluster(config, names, gcloud, progress, {
          timeoutMs: flags.waitTimeout * 1000,
          pollMs: flags.pollSeconds * 1000,
          address,
          httpsPort: flags.httpsPort,
        });
        progress.step('the cluster is up: every app VM is healthy and every certificate is served');
      }
      return EXIT.OK;
    });
  } finally {
    // A dry run keeps the user-data its commands name, for a look.
    if (!flags.dryRun) await rm(files.dir, { recursive: true, force: true });
  }
}

export const run: Command = (argv, env) => deploy(argv, env);
