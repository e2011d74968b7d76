/**
 * The checks before an image build and before a deploy, with the real gcloud against the API
 * stand-in: what an image build would meet (no Application Default Credentials, no `default`
 * network, no SSH rule, enforced OS Login, no external addresses) is listed before packer runs;
 * a deploy refuses an image without UEFI_COMPATIBLE and a policy that refuses the renewer's
 * external address, having created nothing.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGcloudRead } from '../../images/build/gce-gcloud.ts';
import { buildPreflight, CONSTRAINTS } from '../../images/build/gce-preflight.ts';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import {
  APP_IMAGE,
  addFirstImages,
  type FleetFixture,
  fleetDocument,
  isMutation,
  PROJECT,
  RENEWER_IMAGE,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';

describe('wsfleet images build --target gce: the checks before packer (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  it('lists every blocker of the project at once, and each goes once fixed', {
    timeout: 300_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({
      orgPolicies: { [CONSTRAINTS.requireOsLogin]: { booleanPolicy: { enforced: true } } },
    });
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ...endpoint.env,
      // No Application Default Credentials (a file that is not there: no metadata server asked).
      GOOGLE_APPLICATION_CREDENTIALS: join(endpoint.env.CLOUDSDK_CONFIG ?? '/nonexistent', 'no-adc.json'),
    };
    const read = createGcloudRead({ gcloud: 'gcloud', project: PROJECT, env });
    const settings = { project: PROJECT, network: '', useOsLogin: false };
    const first = await buildPreflight(read, settings);
    expect(first).toHaveLength(3);
    expect(first[0]).toContain('gcloud auth application-default login');
    expect(first[1]).toContain('the build network default does not exist');
    expect(first[2]).toContain(`${CONSTRAINTS.requireOsLogin} is enforced`);
    // The policy was asked of Cloud Resource Manager as gcloud asks it.
    expect(endpoint.requests.find((r) => r.path.endsWith(':getEffectiveOrgPolicy'))?.body?.constraint).toBe(
      CONSTRAINTS.requireOsLogin,
    );

    const gcloud = createGcloudRead({ gcloud: 'gcloud', project: PROJECT, env });
    await gcloud(['compute', 'networks', 'create', 'default', '--subnet-mode=auto']);
    const second = await buildPreflight(read, { ...settings, useOsLogin: true });
    expect(second).toHaveLength(2);
    expect(second[1]).toContain(
      'no firewall rule of network default lets packer reach the build VM over SSH',
    );
    await gcloud([
      'compute',
      'firewall-rules',
      'create',
      'default-allow-ssh',
      '--network=default',
      '--allow=tcp:22',
      '--source-ranges=0.0.0.0/0',
    ]);
    const third = await buildPreflight(read, { ...settings, useOsLogin: true });
    expect(third).toEqual([first[0]]);
  });
});

describe('wsfleet deploy: the checks before anything is created (real gcloud)', () => {
  let fleet: FleetFixture | undefined;

  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
  });

  const flags = (f: FleetFixture) => ['--images-dir', f.imagesDir, '--no-wait', '--no-wait-dns'];

  it('refuses an image without UEFI_COMPATIBLE: the templates boot with Secure Boot', {
    timeout: 300_000,
  }, async () => {
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }));
    await addFirstImages(fleet);
    // An image made elsewhere, without the feature.
    fleet.endpoint.addImage(PROJECT, APP_IMAGE, 'wsfleet-app', []);
    const result = await fleet.run(deploy, flags(fleet));
    expect(result.code).toBe(1);
    expect(result.err).toContain('WSFLEET_PREFLIGHT_FAILED');
    expect(result.err).toContain(`image ${APP_IMAGE} lacks the guest OS feature UEFI_COMPATIBLE`);
    expect(result.err).not.toContain(RENEWER_IMAGE);
    // Only the APIs were enabled: nothing of the fleet was created.
    const changed = fleet.endpoint.requests.filter((r) => r.status < 400 && isMutation(r));
    expect(changed.every((r) => r.path.startsWith('/serviceusage/'))).toBe(true);
  });

  it("refuses a project whose policy forbids the renewer's external address", {
    timeout: 300_000,
  }, async () => {
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }), {
      orgPolicyRefusal: CONSTRAINTS.vmExternalIpAccess,
    });
    await addFirstImages(fleet);
    const result = await fleet.run(deploy, flags(fleet));
    expect(result.code).toBe(1);
    expect(result.err).toContain('WSFLEET_PREFLIGHT_FAILED');
    expect(result.err).toContain(`${CONSTRAINTS.vmExternalIpAccess} refuses external IP addresses`);
    const changed = fleet.endpoint.requests.filter((r) => r.status < 400 && isMutation(r));
    expect(changed.every((r) => r.path.startsWith('/serviceusage/'))).toBe(true);
  });
});
