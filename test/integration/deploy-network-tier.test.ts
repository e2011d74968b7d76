/**
 * A project whose default network tier is STANDARD (a setting many cost-minded organizations
 * make): the load balancer's address is reserved PREMIUM, and a forwarding rule that names no tier
 * gets the project's STANDARD, which Google refuses for that address. The deploy's own address
 * and forwarding-rule commands, run with the real gcloud against the stand-in, go through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { deployPhases } from '../../scripts/deploy/deploy-plan.ts';
import type { FleetConfig } from '../../scripts/deploy/fleet-config.ts';
import { validateFleet } from '../../scripts/deploy/fleet-file.ts';
import { createGcloud } from '../../scripts/deploy/gcloud.ts';
import { fleetNames } from '../../scripts/deploy/names.ts';
import type { PlanItem, Step } from '../../scripts/deploy/steps.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import { fleetDocument, PROJECT } from '../helpers/gcloud-endpoint-fleet.ts';

function configOf(): FleetConfig {
  const { config, problems } = validateFleet(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }));
  if (config === undefined) throw new Error(problems.join('\n'));
  return config;
}

const stepOf = (item: PlanItem): Step => (typeof item === 'function' ? item() : item);

describe('a project whose default network tier is STANDARD (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  it("creates the load balancer's forwarding rule in its address's PREMIUM tier", {
    timeout: 180_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ defaultNetworkTier: 'STANDARD' });
    const config = configOf();
    const names = fleetNames(config);
    const phases = deployPhases(
      config,
      { app: 'wsfleet-app-1', renewer: 'wsfleet-renewer-1' },
      { dryRun: false },
      { dir: '/nonexistent' },
    );
    const steps = [...phases.foundation, ...phases.app].map(stepOf);
    const address = steps.find((s) => s.describe.includes(names.appAddress) && s.describe[1] === 'addresses');
    const rule = steps.find((s) => s.describe[1] === 'forwarding-rules');
    if (address === undefined || rule === undefined) throw new Error('no address or forwarding rule step');
    const gcloud = createGcloud({
      gcloud: 'gcloud',
      project: PROJECT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...endpoint.env },
    });
    for (const step of [address, rule]) for (const args of step.plan(undefined)) await gcloud.run(args);
    const created = [...endpoint.resources.entries()].find(([path]) =>
      path.endsWith(`/forwardingRules/${names.forwardingRule}`),
    )?.[1];
    expect(created?.networkTier).toBe('PREMIUM');
    expect(endpoint.requests.filter((r) => r.status >= 400)).toEqual([]);
  });

  it('refuses, as Google does, a forwarding rule left to the STANDARD default on a PREMIUM address', {
    timeout: 180_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ defaultNetworkTier: 'STANDARD' });
    const gcloud = createGcloud({
      gcloud: 'gcloud',
      project: PROJECT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...endpoint.env },
    });
    const r = '--region=europe-west4';
    await gcloud.run(['compute', 'addresses', 'create', 'a', r, '--network-tier=PREMIUM']);
    await expect(
      gcloud.run([
        'compute',
        'forwarding-rules',
        'create',
        'f',
        r,
        '--ports=80',
        '--address=a',
        '--target-pool=p',
      ]),
    ).rejects.toThrow(/STANDARD network tier \(the project's default network tier\)/);
    expect(endpoint.requests.at(-1)?.status).toBe(400);
  });
});
