/**
 * The deploy's plan without a cloud: `--dry-run` prints the exact gcloud commands and calls
 * nothing; templates are named by what they hold; the guard on commands; the teardown's plan
 * with and without --delete-data; the images chosen from manifests.
 */
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { renderUserData } from '../../cloud-init/render.ts';
import { commandProblems } from '../../scripts/deploy/checks.ts';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { type Facts, redisStep } from '../../scripts/deploy/deploy-plan.ts';
import { FleetConfigError } from '../../scripts/deploy/errors.ts';
import type { FleetConfig } from '../../scripts/deploy/fleet-config.ts';
import { validateFleet } from '../../scripts/deploy/fleet-file.ts';
import { resolveImages } from '../../scripts/deploy/images.ts';
import { fleetNames } from '../../scripts/deploy/names.ts';
import { renewerGroupSteps } from '../../scripts/deploy/plan-groups.ts';
import { NEW_VALUE } from '../../scripts/deploy/plan-secrets.ts';
import { templateOf } from '../../scripts/deploy/plan-templates.ts';
import { teardownPlan } from '../../scripts/deploy/teardown-command.ts';
import { appValues } from '../../scripts/deploy/user-data.ts';
import { fleetDocument } from '../helpers/gcloud-endpoint-fleet.ts';

function configOf(overrides: Record<string, unknown> = {}): FleetConfig {
  const { config, problems } = validateFleet(fleetDocument(overrides));
  if (config === undefined) throw new Error(problems.join('\n'));
  return config;
}

describe('deploy plan', () => {
  let dir: string;
  let marker: string;
  let gcloud: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-plan-'));
    marker = join(dir, 'gcloud-ran');
    gcloud = join(dir, 'gcloud');
    await writeFile(gcloud, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`, { mode: 0o755 });
  });

  /** The user-data folders dry runs left (they print where), removed whatever the tests found. */
  const userDataDirs: string[] = [];

  afterAll(async () => {
    await Promise.all(userDataDirs.map((d) => rm(d, { recursive: true, force: true })));
    await rm(dir, { recursive: true, force: true });
  });

  async function dryRun(overrides: Record<string, unknown>, extra: string[] = []): Promise<string> {
    const file = join(dir, 'wsfleet.yaml');
    await writeFile(file, stringify(fleetDocument(overrides)));
    let out = '';
    const io = {
      out: (text: string) => {
        out += text;
      },
      err: (text: string) => {
        out += text;
      },
    };
    const code = await deploy(
      [
        '--config',
        file,
        '--dry-run',
        '--gcloud',
        gcloud,
        '--app-image',
        'img-app-1',
        '--renewer-image',
        'img-renewer-1',
        ...extra,
      ],
      {},
      io,
    );
    const userData = /# The user-data files named above are in (\S+)/.exec(out)?.[1];
    if (userData !== undefined) userDataDirs.push(userData);
    expect(code).toBe(0);
    await expect(access(marker), 'gcloud was not run').rejects.toThrow();
    return out;
  }

  describe('wsfleet deploy --dry-run', () => {
    it('prints the exact gcloud commands of every step and runs none', async () => {
      const out = await dryRun({ redis: { url: 'redis://10.0.0.3:6379' } });
      const commands = out.split('\n').filter((l) => l.startsWith(gcloud));
      const tail = ' --project=proj-test --format=json --quiet';
      expect(commands).toHaveLength(28);
      expect(commands).toContain(
        `${gcloud} compute firewall-rules create wsfleet-allow-health-checks --network=wsfleet --direction=INGRESS --action=ALLOW --rules=tcp:80 --source-ranges=35.191.0.0/16,130.211.0.0/22,209.85.152.0/22,209.85.204.0/22 --target-tags=wsfleet-app,wsfleet-renewer${tail}`,
      );
      // The app VMs read certs/ only: not the account key, not the renewer state.
      expect(commands).toContain(
        `${gcloud} storage buckets add-iam-policy-binding gs://proj-test-wsfleet-certs --member=serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com --role=roles/storage.objectViewer '--condition=expression=resource.name.startsWith("projects/_/buckets/proj-test-wsfleet-certs/objects/certs/"),title=wsfleet-certs-only'${tail}`,
      );
      expect(commands).toContain(
        `${gcloud} compute backend-services create wsfleet-app --region=europe-west4 --load-balancing-scheme=EXTERNAL --protocol=TCP --health-checks=wsfleet-app-http --health-checks-region=europe-west4 --session-affinity=CLIENT_IP --connection-draining-timeout=30${tail}`,
      );
      expect(commands).toContain(
        `${gcloud} compute forwarding-rules create wsfleet-app --region=europe-west4 --load-balancing-scheme=EXTERNAL --network-tier=PREMIUM --ip-protocol=TCP --ports=80,443 --address=projects/proj-test/regions/europe-west4/addresses/wsfleet-app --backend-service=projects/proj-test/regions/europe-west4/backendServices/wsfleet-app${tail}`,
      );
      // Each step says how it is found first.
      expect(out).toContain(`#   ${gcloud} compute firewall-rules describe wsfleet-allow-web${tail}`);
      const template = commands.find((c) => c.includes('instance-templates create wsfleet-app-')) ?? '';
      expect(template).toMatch(
        /--machine-type=e2-small --image=img-app-1 --image-project=proj-test --service-account=wsfleet-app@proj-test\.iam\.gserviceaccount\.com --scopes=cloud-platform --metadata-from-file=user-data=\S+\.user-data\.yaml /,
      );
      const userData = /user-data=(\S+\.user-data\.yaml)/.exec(template)?.[1] ?? '';
      const text = await readFile(userData, 'utf8');
      expect(text).toMatch(/^#cloud-config\n/);
      expect(text).toContain('WSFLEET_REDIS_URL=\\"redis://10.0.0.3:6379\\"');
      await rm(join(userData, '..'), { recursive: true, force: true });
    });

    it('prints the DNS records once the address exists, and starts the renewer only after DNS', async () => {
      const out = await dryRun({ redis: { url: 'redis://10.0.0.3:6379' } });
      const lines = out.split('\n');
      const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
      const address = at(/compute addresses create wsfleet-app /);
      const printed = at(/^# DNS: here the deploy prints an A record .* for ws\.example\.com/);
      const appGroup = at(/instance-groups managed create wsfleet-app /);
      const waited = at(/^# DNS: here the deploy waits \(--dns-timeout 1800 s\) until each name resolves/);
      const renewerTemplate = at(/instance-templates create wsfleet-renewer-/);
      const renewerGroup = at(/instance-groups managed create wsfleet-renewer /);
      for (const index of [address, printed, appGroup, waited, renewerTemplate, renewerGroup])
        expect(index).toBeGreaterThan(-1);
      expect(address).toBeLessThan(printed);
      expect(printed).toBeLessThan(appGroup);
      expect(appGroup).toBeLessThan(waited);
      expect(waited).toBeLessThan(renewerTemplate);
      expect(renewerTemplate).toBeLessThan(renewerGroup);
      // One numbering across the phases.
      expect(out).toContain('# (27/27) ');
    });

    it('is closed by default: both secrets in Secret Manager, readable by the app account alone, none in user-data', async () => {
      const out = await dryRun({ redis: { url: 'redis://10.0.0.3:6379' } });
      const commands = out.split('\n').filter((l) => l.startsWith(gcloud));
      const tail = ' --project=proj-test --format=json --quiet';
      expect(commands[0]).toContain('secretmanager.googleapis.com');
      const app = 'serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com';
      for (const id of ['wsfleet-token-secret', 'wsfleet-api-key']) {
        expect(commands).toContain(
          `${gcloud} secrets create ${id} --replication-policy=automatic --labels=wsfleet=wsfleet '--data-file=${NEW_VALUE}'${tail}`,
        );
        expect(commands).toContain(
          `${gcloud} secrets add-iam-policy-binding ${id} --member=${app} --role=roles/secretmanager.secretAccessor${tail}`,
        );
      }
      // Per secret, for the app account only: no project-wide grant, nothing for the renewer.
      const grants = commands.filter((c) => c.includes('secretmanager'));
      expect(grants.filter((c) => c.includes('add-iam-policy-binding'))).toHaveLength(2);
      expect(grants.join('\n')).not.toMatch(/projects add-iam-policy-binding|wsfleet-renewer@/);
      const template = commands.find((c) => c.includes('instance-templates create wsfleet-app-')) ?? '';
      const userData = /user-data=(\S+\.user-data\.yaml)/.exec(template)?.[1] ?? '';
      const text = await readFile(userData, 'utf8');
      expect(text).toContain('WSFLEET_CLIENT_PUBLISH=\\"false\\"');
      expect(text).not.toMatch(/WSFLEET_TOKEN_SECRET=|WSFLEET_API_KEY=/);
      expect(template).not.toMatch(/TOKEN_SECRET|API_KEY/);
      await rm(join(userData, '..'), { recursive: true, force: true });
    });

    it("makes a deployed app VM require the secrets fetch: the secrets' names in its user-data, never their values", async () => {
      const out = await dryRun({ redis: { url: 'redis://10.0.0.3:6379' } });
      const commands = out.split('\n').filter((l) => l.startsWith(gcloud));
      const template = commands.find((c) => c.includes('instance-templates create wsfleet-app-')) ?? '';
      const userData = /user-data=(\S+\.user-data\.yaml)/.exec(template)?.[1] ?? '';
      const data = parse(await readFile(userData, 'utf8')) as {
        write_files: { path: string; permissions: string; content: string }[];
        runcmd: string[][];
      };
      const secrets = data.write_files.find((f) => f.path === '/etc/wsfleet/app-secrets.env');
      expect(secrets?.permissions).toBe('0600');
      expect(secrets?.content).toContain('WSFLEET_TOKEN_SECRET_FROM="gcp:proj-test/wsfleet-token-secret"');
      expect(secrets?.content).toContain('WSFLEET_API_KEY_FROM="gcp:proj-test/wsfleet-api-key"');
      // The oneshot is enabled (RequiredBy=wsfleet-app.service: the app does not start without it).
      expect(data.runcmd).toEqual([
        [
          'systemctl',
          'enable',
          '--now',
          'wsfleet-app-secrets.service',
          'wsfleet-cert-sync.service',
          'wsfleet-app.service',
        ],
      ]);
      // No value: neither the app's settings nor the template carry a secret.
      const app = data.write_files.find((f) => f.path === '/etc/wsfleet/app.env')?.content ?? '';
      expect(app).not.toMatch(/WSFLEET_TOKEN_SECRET=|WSFLEET_API_KEY=/);
      expect(template).not.toMatch(/TOKEN_SECRET|API_KEY/);
      await rm(join(userData, '..'), { recursive: true, force: true });
    });

    it('opens SSH from IAP only, and only with --debug-access', async () => {
      const url = { redis: { url: 'redis://10.0.0.3:6379' } };
      const rule = 'compute firewall-rules create wsfleet-allow-iap-ssh';
      const plain = await dryRun(url);
      expect(plain).not.toContain(rule);
      const open = await dryRun(url, ['--debug-access']);
      expect(open).toContain(
        `${rule} --network=wsfleet --direction=INGRESS --action=ALLOW --rules=tcp:22 --source-ranges=35.235.240.0/20 --target-tags=wsfleet-app,wsfleet-renewer`,
      );
    });

    it("checks the renewer's liveness over HTTP (/livez, answered by the daemon), not the socket systemd holds", async () => {
      const out = await dryRun({ redis: { url: 'redis://10.0.0.3:6379' } });
      const commands = out.split('\n').filter((l) => l.startsWith(gcloud));
      const tail = ' --project=proj-test --format=json --quiet';
      expect(commands).toContain(
        `${gcloud} compute health-checks create http wsfleet-renewer-live --region=europe-west4 --port=80 --request-path=/livez --check-interval=10s --timeout=5s --healthy-threshold=2 --unhealthy-threshold=3${tail}`,
      );
      expect(commands.filter((c) => / health-checks create tcp /.test(c))).toEqual([]);
      const group = commands.find((c) => c.includes('instance-groups managed create wsfleet-renewer ')) ?? '';
      expect(group).toContain(
        '--health-check=projects/proj-test/regions/europe-west4/healthChecks/wsfleet-renewer-live',
      );
    });

    it('shows where a value is known only once Redis exists', async () => {
      const out = await dryRun({});
      expect(out).toContain(
        'redis instances create wsfleet-redis --region=europe-west4 --tier=basic --size=1 --redis-version=redis_7_0 --network=projects/proj-test/global/networks/wsfleet --connect-mode=direct-peering --transit-encryption-mode=server-authentication --enable-auth --persistence-mode=disabled',
      );
      expect(out).toContain("'--metadata-from-file=user-data=<user-data <known once Redis exists>>'");
      expect(out).toContain(
        "'--template=projects/proj-test/global/instanceTemplates/wsfleet-app-<known once Redis exists>'",
      );
    });
  });

  describe('Redis', () => {
    it('stops with WSFLEET_DEPLOY_PENDING, not a crash, while the instance is still being created', () => {
      const config = configOf();
      const facts = { dryRun: false };
      const step = redisStep(config, fleetNames(config), facts);
      expect(() => step?.learn?.({ name: 'wsfleet-redis', state: 'CREATING' })).toThrow(
        expect.objectContaining({
          code: 'WSFLEET_DEPLOY_PENDING',
          message: expect.stringContaining('CREATING'),
        }),
      );
      step?.learn?.({
        name: 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis',
        state: 'READY',
        host: '10.30.0.3',
        port: 6378,
        authEnabled: true,
        transitEncryptionMode: 'SERVER_AUTHENTICATION',
        serverCaCerts: [{ cert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' }],
      });
      expect(facts).toMatchObject({ redis: { redisHost: '10.30.0.3', redisPort: 6378 } });
    });

    it.each([
      [
        { tier: 'standard', persistence: 'rdb-1h' },
        '--tier=standard',
        '--persistence-mode=RDB --rdb-snapshot-period=1h',
      ],
      [
        { tier: 'basic', persistence: 'rdb-24h' },
        '--tier=basic',
        '--persistence-mode=RDB --rdb-snapshot-period=24h',
      ],
      [{ tier: 'standard' }, '--tier=standard', '--persistence-mode=disabled'],
    ])(
      'creates %o with AUTH, in-transit encryption and the persistence asked for',
      (create, tier, persistence) => {
        const config = configOf({ redis: { create } });
        const line =
          redisStep(config, fleetNames(config), { dryRun: true })?.plan(undefined).flat().join(' ') ?? '';
        expect(line).toContain(tier);
        expect(line).toContain('--transit-encryption-mode=server-authentication --enable-auth');
        expect(line).toContain(persistence);
      },
    );

    it('gives the app rediss:// on the TLS port, the server CA as a file, and the AUTH string fetched at boot', () => {
      const config = configOf();
      const facts: Facts = { dryRun: false };
      const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      redisStep(config, fleetNames(config), facts)?.learn?.({
        name: 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis',
        state: 'READY',
        host: '10.30.0.3',
        port: 6378,
        authEnabled: true,
        transitEncryptionMode: 'SERVER_AUTHENTICATION',
        serverCaCerts: [{ serialNumber: '1', cert: ca }],
      });
      const values = appValues(config, facts.redis);
      expect(values).toMatchObject({
        redisUrl: 'rediss://10.30.0.3:6378',
        redisCaPem: ca,
        redisAuthFrom: 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis',
      });
      const userData = renderUserData('app', values);
      expect(userData).toContain('WSFLEET_REDIS_CA_FILE=\\"/etc/wsfleet/redis-ca.pem\\"');
      expect(userData).toContain(
        'WSFLEET_REDIS_INSTANCE=\\"projects/proj-test/locations/europe-west4/instances/wsfleet-redis\\"',
      );
      expect(userData).toContain('"wsfleet-app-redis-auth.service"');
      // The string itself is fetched on the VM: the user-data has no password setting at all.
      expect(userData).not.toContain('WSFLEET_REDIS_PASSWORD');
    });

    it('refuses an instance that serves Redis without TLS or AUTH (one made by hand, or before)', () => {
      const config = configOf();
      const step = redisStep(config, fleetNames(config), { dryRun: false });
      expect(() =>
        step?.learn?.({ name: 'wsfleet-redis', state: 'READY', host: '10.30.0.3', port: 6379 }),
      ).toThrow(expect.objectContaining({ code: 'WSFLEET_DEPLOY_UNSAFE_REDIS' }));
    });
  });

  describe('instance templates', () => {
    it('are named by what they hold: a new image gives a new name', async () => {
      const config = configOf();
      const names = fleetNames(config);
      const files = { dir: join(dir, 'templates') };
      const of = (image: string, userData: string) =>
        templateOf(config, names, { role: 'app', image, userData }, files).name;
      expect(of('a', '#cloud-config\n')).toBe(of('a', '#cloud-config\n'));
      expect(of('a', '#cloud-config\n')).not.toBe(of('b', '#cloud-config\n'));
      expect(of('a', '#cloud-config\n')).not.toBe(of('a', '#cloud-config\n# other\n'));
      expect(of('a', '#cloud-config\n')).toMatch(/^wsfleet-app-[0-9a-f]{10}$/);
    });
  });

  describe('the guard on commands', () => {
    it.each([
      [['compute', 'backend-services', 'create', 'x', '--health-checks=hc'], 'names a health check bare'],
      [
        ['compute', 'instance-groups', 'managed', 'create', 'x', '--health-check=hc'],
        'does not name its region',
      ],
      [
        [
          'compute',
          'instance-groups',
          'managed',
          'rolling-action',
          'start-update',
          'x',
          '--max-surge=3',
          '--replacement-method=recreate',
        ],
        'recreate replacement with a surge of 3',
      ],
    ])('refuses %j', (argv, problem) => {
      expect(commandProblems(argv)).toEqual([expect.stringContaining(problem)]);
    });

    it('lets regional references through', () => {
      expect(
        commandProblems([
          'compute',
          'backend-services',
          'create',
          'x',
          '--health-checks=hc',
          '--health-checks-region=europe-west4',
          '--health-check=projects/p/regions/europe-west4/healthChecks/hc',
          '--max-surge=0',
          '--replacement-method=recreate',
        ]),
      ).toEqual([]);
    });
  });

  describe("the renewer group's autohealing", () => {
    const config = () => configOf();
    const live = 'projects/proj-test/regions/europe-west4/healthChecks/wsfleet-renewer-live';
    function groupPlan(found: Record<string, unknown>): string[] {
      const c = config();
      const [group] = renewerGroupSteps(
        c,
        fleetNames(c),
        'wsfleet-renewer-0123456789',
        'wsfleet-renewer-live',
      );
      return (group?.plan(found) ?? []).map((args) => args.join(' '));
    }
    const deployed = (check: string) => ({
      name: 'wsfleet-renewer',
      versions: [{ instanceTemplate: 'https://x/global/instanceTemplates/wsfleet-renewer-0123456789' }],
      autoHealingPolicies: [{ healthCheck: `https://x/compute/v1/${check}`, initialDelaySec: 300 }],
    });

    it('is moved from the TCP check of an older deploy to the HTTP /livez check', () => {
      expect(
        groupPlan(deployed('projects/proj-test/regions/europe-west4/healthChecks/wsfleet-renewer-tcp')),
      ).toEqual([
        `compute instance-groups managed update wsfleet-renewer --zone=europe-west4-a --health-check=${live} --initial-delay=300`,
      ]);
    });

    it('is left alone when it already uses the /livez check', () => {
      expect(groupPlan(deployed(live))).toEqual([]);
    });
  });

  describe('teardown plan', () => {
    const present = { name: 'anything' };

    function commandsOf(deleteData: boolean): string[] {
      const config = configOf();
      const policy = {
        bindings: [
          {
            role: 'roles/storage.objectAdmin',
            members: ['serviceAccount:wsfleet-renewer@proj-test.iam.gserviceaccount.com'],
          },
          {
            role: 'roles/storage.objectViewer',
            members: ['serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com'],
          },
        ],
      };
      return teardownPlan(config, fleetNames(config), deleteData).flatMap((step) => {
        const found = step.describe.includes('get-iam-policy')
          ? policy
          : step.describe.includes('list')
            ? [{ name: 'wsfleet-app-0123456789' }, { name: 'other-template' }]
            : present;
        return step.plan(found).map((args) => args.join(' '));
      });
    }

    it('keeps the bucket and removes only the fleet bindings from it', () => {
      const commands = commandsOf(false);
      expect(commands.filter((c) => c.includes('gs://'))).toEqual([
        'storage buckets remove-iam-policy-binding gs://proj-test-wsfleet-certs --member=serviceAccount:wsfleet-renewer@proj-test.iam.gserviceaccount.com --role=roles/storage.objectAdmin',
        'storage buckets remove-iam-policy-binding gs://proj-test-wsfleet-certs --member=serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com --role=roles/storage.objectViewer',
      ]);
      expect(commands).toContain('compute instance-templates delete wsfleet-app-0123456789');
      // The debug SSH rule too, when a deploy with --debug-access made it.
      expect(commands).toContain('compute firewall-rules delete wsfleet-allow-iap-ssh');
      expect(commands).toContain('redis instances delete wsfleet-redis --region=europe-west4');
      expect(commands[0]).toBe('compute forwarding-rules delete wsfleet-app --region=europe-west4');
      expect(commands.at(-1)).toBe('compute networks delete wsfleet');
    });

    it("deletes the renewer's /livez check and the TCP check an older deploy made", () => {
      const commands = commandsOf(false);
      expect(commands).toContain('compute health-checks delete wsfleet-renewer-live --region=europe-west4');
      expect(commands).toContain('compute health-checks delete wsfleet-renewer-tcp --region=europe-west4');
    });

    it("deletes no template of a fleet whose name starts with this one's (`wsfleet-app`)", () => {
      const config = configOf();
      const templates = teardownPlan(config, fleetNames(config), false).filter((step) =>
        step.describe.includes('list'),
      );
      const listed = [
        { name: 'wsfleet-app-0123456789' },
        { name: 'wsfleet-renewer-abcdef0123' },
        { name: 'wsfleet-app-app-0123456789' },
        { name: 'wsfleet-app-renewer-0123456789' },
      ];
      expect(templates.flatMap((step) => step.plan(listed)).map((c) => c.join(' '))).toEqual([
        'compute instance-templates delete wsfleet-app-0123456789',
        'compute instance-templates delete wsfleet-renewer-abcdef0123',
      ]);
      for (const step of templates) expect(step.describe.join(' ')).toContain('[0-9a-f]{10}$');
    });

    it('has nothing to do for what is gone, so it can run again', () => {
      const config = configOf();
      for (const deleteData of [false, true]) {
        const steps = teardownPlan(config, fleetNames(config), deleteData);
        expect(steps.flatMap((step) => step.plan(undefined))).toEqual([]);
        // A bucket policy without the fleet's bindings, and no template left: nothing either.
        const policySteps = steps.filter((step) => step.describe.includes('get-iam-policy'));
        expect(policySteps.flatMap((step) => step.plan({ bindings: [] }))).toEqual([]);
        const templates = steps.filter((step) => step.describe.includes('list'));
        expect(templates.flatMap((step) => step.plan([]))).toEqual([]);
      }
    });

    it('deletes the bucket and its objects with --delete-data', () => {
      expect(commandsOf(true).filter((c) => c.includes('gs://'))).toEqual([
        'storage rm --recursive gs://proj-test-wsfleet-certs',
      ]);
    });
  });

  describe('images', () => {
    it('takes the newest build of the project for each role, unless one is named', async () => {
      const imagesDir = join(dir, 'manifests');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(imagesDir, { recursive: true });
      const manifest = (role: string, image: string, project: string, builtAt: string) =>
        writeFile(
          join(imagesDir, `${image}.json`),
          JSON.stringify({
            format: 'wsfleet.image-manifest/1',
            role,
            target: 'gce',
            image,
            project,
            builtAt,
          }),
        );
      await manifest('app', 'app-old', 'proj-test', '2026-01-01T00:00:00Z');
      await manifest('app', 'app-new', 'proj-test', '2026-03-01T00:00:00Z');
      await manifest('app', 'app-other-project', 'other-project', '2026-04-01T00:00:00Z');
      await manifest('renewer', 'renewer-1', 'proj-test', '2026-01-01T00:00:00Z');
      await writeFile(join(imagesDir, 'notes.json'), '{"not": "a manifest"}');
      const config = configOf();
      expect(await resolveImages(config, { imagesDir })).toEqual({ app: 'app-new', renewer: 'renewer-1' });
      expect(await resolveImages(config, { imagesDir, appImage: 'chosen' })).toEqual({
        app: 'chosen',
        renewer: 'renewer-1',
      });
      const none = resolveImages(config, { imagesDir: join(dir, 'empty') });
      await expect(none).rejects.toThrow(FleetConfigError);
      await expect(none).rejects.toThrow(/no app image: give --app-image[\s\S]*no renewer image/);
    });
  });
});
