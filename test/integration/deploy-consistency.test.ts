/**
 * A first deploy into a new project, against a stand-in as eventually consistent as Google:
 * APIs disabled until enabled and for a while after, and new service accounts unknown to bucket
 * policies for a while. The deploy reads no API before its enable has finished, waits out both
 * delays, and names a disabled API that stays disabled with its own code.
 */
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { DeployError } from '../../scripts/deploy/errors.ts';
import { createGcloud, parseGcloudError } from '../../scripts/deploy/gcloud.ts';
import { status } from '../../scripts/deploy/status-command.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import {
  addFirstImages,
  type FleetFixture,
  fleetDocument,
  freshDeploy,
  mutations,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';

describe("gcloud's errors while Google settles (real gcloud)", () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  const gcloud = async (e: GcloudEndpoint, args: string[]) =>
    execa('gcloud', [...args, '--project=proj-test', '--format=json', '--quiet'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...e.env },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });

  it('reads SERVICE_DISABLED as an API not enabled yet, not as a missing login', {
    timeout: 180_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ apisDisabled: true });
    const result = await gcloud(endpoint, [
      'iam',
      'service-accounts',
      'describe',
      'wsfleet-app@proj-test.iam.gserviceaccount.com',
    ]);
    expect(result.exitCode).not.toBe(0);
    const problem = parseGcloudError(result.stderr);
    expect(problem).toMatchObject({ serviceDisabled: 'iam.googleapis.com', denied: false, notFound: false });
  });

  it('reads a bucket policy refused for a new account as the account not known yet', {
    timeout: 180_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ iamLag: 1 });
    const email = 'wsfleet-app@proj-test.iam.gserviceaccount.com';
    expect((await gcloud(endpoint, ['iam', 'service-accounts', 'create', 'wsfleet-app'])).exitCode).toBe(0);
    expect(
      (await gcloud(endpoint, ['storage', 'buckets', 'create', 'gs://b-test', '--location=europe-west4']))
        .exitCode,
    ).toBe(0);
    const bind = [
      'storage',
      'buckets',
      'add-iam-policy-binding',
      'gs://b-test',
      `--member=serviceAccount:${email}`,
      '--role=roles/storage.objectViewer',
    ];
    const refused = await gcloud(endpoint, bind);
    expect(refused.exitCode).not.toBe(0);
    expect(parseGcloudError(refused.stderr)).toMatchObject({
      unknownAccount: email,
      denied: false,
      notFound: false,
    });
    // Once known, the same command goes through.
    expect((await gcloud(endpoint, bind)).exitCode).toBe(0);
  });
});

describe('an organization policy refusing a VM (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  it('answers an instance with an external address 412 conditionNotMet, as Compute Engine does', {
    timeout: 180_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ orgPolicyRefusal: 'constraints/compute.vmExternalIpAccess' });
    const gcloud = createGcloud({
      gcloud: 'gcloud',
      project: 'proj-test',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...endpoint.env },
    });
    const create = (name: string, extra: string[]) =>
      gcloud.run([
        'compute',
        'instances',
        'create',
        name,
        '--zone=europe-west4-a',
        '--image=projects/proj-test/global/images/i',
        ...extra,
      ]);
    const refused = await create('vm-a', []).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DeployError);
    const message = (refused as DeployError).message;
    expect(message).toContain(
      'Constraint constraints/compute.vmExternalIpAccess violated for project 123456789012. Add instance projects/proj-test/zones/europe-west4-a/instances/vm-a to the constraint',
    );
    expect(message).toContain('org-policies describe constraints/compute.vmExternalIpAccess --effective');
    const insert = endpoint.requests.find((r) => r.method === 'POST' && r.path.endsWith('/instances'));
    expect(insert?.status).toBe(412);
    // Without an external address the same policy lets it through.
    await create('vm-b', ['--no-address']);
    expect([...endpoint.resources.keys()].some((k) => k.endsWith('/instances/vm-b'))).toBe(true);
  });
});

describe('wsfleet deploy into a new project (real gcloud, eventually consistent API)', () => {
  let fleet: FleetFixture | undefined;

  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
  });

  async function newProject(options: { enableLag: number; iamLag: number }): Promise<FleetFixture> {
    const f = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }), {
      apisDisabled: true,
      ...options,
    });
    await addFirstImages(f);
    return f;
  }

  const flags = (f: FleetFixture, extra: string[] = []) => [
    '--images-dir',
    f.imagesDir,
    '--no-wait',
    '--no-wait-dns',
    ...extra,
  ];

  it('waits for enabled APIs and new accounts to settle, and creates everything once', {
    // Some 60 gcloud runs, each a second or more (several on a loaded machine).
    timeout: 900_000,
  }, async () => {
    fleet = await newProject({ enableLag: 2, iamLag: 1 });
    const result = await fleet.run(deploy, flags(fleet));
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    // Nothing but the enable touched an API before the enable had finished.
    const enable = fleet.endpoint.requests.findIndex((r) => r.path.endsWith(':batchEnable'));
    expect(enable).toBeGreaterThan(-1);
    const before = fleet.endpoint.requests.slice(0, enable);
    expect(before.every((r) => r.path.startsWith('/serviceusage/'))).toBe(true);
    expect(result.out).toMatch(
      /SERVICE_DISABLED .*compute\.googleapis\.com|compute\.googleapis\.com.* not enabled yet/,
    );
    expect(result.out).toMatch(
      /wsfleet-renewer@proj-test\.iam\.gserviceaccount\.com is not known to IAM yet/,
    );
    // Each resource created once, in order: a refused request changed nothing.
    expect(mutations(fleet.endpoint.requests.filter((r) => r.status < 400))).toEqual(
      freshDeploy({ redis: false }),
    );
    // The refused ones were refused as Google refuses them.
    const refused = fleet.endpoint.requests.filter((r) => r.status >= 400).map((r) => r.status);
    expect(refused).toContain(403);
    expect(refused).toContain(400);
  });

  it('names an API that stays disabled with its own code, and says what to do', {
    timeout: 300_000,
  }, async () => {
    fleet = await newProject({ enableLag: 1_000_000, iamLag: 0 });
    const result = await fleet.run(deploy, flags(fleet, ['--settle-timeout', '5']));
    expect(result.code).toBe(1);
    expect(result.err).toContain('WSFLEET_GCLOUD_SERVICE_DISABLED');
    expect(result.err).toContain('has not been used in project');
    expect(result.err).not.toContain('gcloud auth login');
    expect(result.err).toContain('gcloud services enable');
  });

  it("shows in `wsfleet status` why a group has no VMs: an organization policy's refusal", {
    timeout: 900_000,
  }, async () => {
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }), {
      orgPolicyRefusal: 'constraints/compute.vmExternalIpAccess',
      // An account that may not read the policy: the deploy's check cannot see it coming.
      orgPoliciesReadable: false,
    });
    await addFirstImages(fleet);
    expect((await fleet.run(deploy, flags(fleet))).code).toBe(0);
    const result = await fleet.run(status, ['--https-port', String(fleet.httpsPort)]);
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/wsfleet-renewer: 0\/0 VMs/);
    expect(result.out).toMatch(
      /errors \(1, newest first\):\n\s+\S+ CREATING wsfleet-renewer-0: CONDITION_NOT_MET: Constraint constraints\/compute\.vmExternalIpAccess violated/,
    );
    expect(result.out).toContain('the group cannot make its VMs');
  });
});
