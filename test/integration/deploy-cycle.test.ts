/**
 * `wsfleet deploy`, `rollout` and `status` with the real gcloud against the recording API
 * stand-in: the requests of a fresh deploy, in order, with least-privilege bodies; a second deploy
 * that only reads; a rollout to new images; the status of what was deployed. One fleet, in order:
 * each test starts from what the one before left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { rollout } from '../../scripts/deploy/rollout-command.ts';
import { status } from '../../scripts/deploy/status-command.ts';
import {
  APP_IMAGE,
  addFirstImages,
  C,
  DOMAIN,
  type FleetFixture,
  fleetDocument,
  freshDeploy,
  mutations,
  PROJECT,
  R,
  RENEWER_IMAGE,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';
import type { Json } from '../helpers/gcloud-endpoint-model.ts';
import { type ChallTestSrv, startChallTestSrv } from '../helpers/pebble-challtestsrv.ts';

describe('wsfleet deploy, rollout and status (real gcloud, recording API)', () => {
  let fleet: FleetFixture;
  let origin: string;
  let dns: ChallTestSrv;

  /** The JSON bodies of the requests to paths ending in `suffix` with `method`. */
  const bodies = (method: string, suffix: string): Json[] =>
    fleet.endpoint.requests
      .filter((r) => r.method === method && r.path.endsWith(suffix))
      .map((r) => r.body as Json);
  const only = (method: string, suffix: string, name?: string): Json => {
    const found = bodies(method, suffix).filter((b) => name === undefined || b.name === name);
    expect(found, `one ${method} …${suffix} ${name ?? ''}`).toHaveLength(1);
    return found[0] as Json;
  };
  const metadata = (template: Json, key: string) =>
    ((template.properties as Json).metadata as { items: { key: string; value: string }[] }).items.find(
      (i) => i.key === key,
    )?.value;

  beforeAll(async () => {
    // Public DNS, where every name resolves to the load balancer's address (127.0.0.1 here).
    dns = await startChallTestSrv();
    // Every long-running operation answers unfinished once before it is done, as Google's do:
    // the whole deploy, rollout and status run against operations gcloud has to wait for.
    fleet = await startFleetFixture(fleetDocument(), { operationPolls: 1 });
    origin = fleet.endpoint.url;
    await addFirstImages(fleet);
  });

  afterAll(async () => {
    await fleet?.close();
    await dns?.stop();
  });

  const flags = () => [
    '--images-dir',
    fleet.imagesDir,
    '--https-port',
    String(fleet.httpsPort),
    '--poll-seconds',
    '0.2',
    '--wait-timeout',
    '30',
    '--dns-server',
    dns.dnsServer,
  ];

  it('creates every resource in order, then waits for healthy VMs and the certificate', {
    // Some 70 gcloud runs, each a second or more (several on a loaded machine).
    timeout: 600_000,
  }, async () => {
    const result = await fleet.run(deploy, flags());
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual(freshDeploy({ redis: true }));
    expect(result.out).toContain(`${DOMAIN}. 300 IN A 127.0.0.1`);
    expect(result.out).toContain('DNS: every name resolves to 127.0.0.1');
    expect(result.out).toContain('load balancer: 3 of 3 app VMs healthy');
    expect(result.out).toContain('certificates served: 1 of 1');
    // On the project only the AUTH string's custom role is granted (deploy-grants.test.ts): its
    // IAM policy is read and written once each, besides the check of the organization policy on
    // external addresses.
    expect(
      fleet.endpoint.requests
        .filter((r) => r.path.includes('cloudresourcemanager'))
        .map((r) => `${r.method} ${r.path.split(':').pop()} ${String(r.body?.constraint)}`),
    ).toEqual([
      'POST getEffectiveOrgPolicy constraints/compute.vmExternalIpAccess',
      'POST getIamPolicy undefined',
      'POST getIamPolicy undefined',
      'POST setIamPolicy undefined',
    ]);
  });

  it('opens only the web ports, the challenge path and the health-check probes', () => {
    expect(only('POST', '/global/firewalls', 'wsfleet-allow-web')).toMatchObject({
      allowed: [
        { IPProtocol: 'tcp', ports: ['80'] },
        { IPProtocol: 'tcp', ports: ['443'] },
      ],
      direction: 'INGRESS',
      sourceRanges: ['0.0.0.0/0'],
      targetTags: ['wsfleet-app'],
      network: `${origin}/compute/v1/projects/${PROJECT}/global/networks/wsfleet`,
    });
    const challenges = only('POST', '/global/firewalls', 'wsfleet-allow-challenges');
    expect(challenges).toMatchObject({
      allowed: [{ IPProtocol: 'tcp', ports: ['80'] }],
      sourceTags: ['wsfleet-app'],
      targetTags: ['wsfleet-renewer'],
    });
    expect(challenges.sourceRanges).toBeUndefined();
    expect(only('POST', '/global/firewalls', 'wsfleet-allow-health-checks')).toMatchObject({
      allowed: [{ IPProtocol: 'tcp', ports: ['80'] }],
      sourceRanges: ['35.191.0.0/16', '130.211.0.0/22', '209.85.152.0/22', '209.85.204.0/22'],
      targetTags: ['wsfleet-app', 'wsfleet-renewer'],
    });
    expect(only('POST', '/global/networks')).toMatchObject({ name: 'wsfleet', autoCreateSubnetworks: false });
    expect(only('POST', '/subnetworks')).toMatchObject({
      ipCidrRange: '10.20.0.0/24',
      privateIpGoogleAccess: true,
    });
  });

  it('gives each tier its own account with access to the bucket only', () => {
    expect(bodies('POST', '/serviceAccounts').map((b) => b.accountId)).toEqual([
      'wsfleet-renewer',
      'wsfleet-app',
    ]);
    expect(only('POST', '/storage/v1/b')).toEqual({
      name: `${PROJECT}-wsfleet-certs`,
      location: 'europe-west4',
      storageClass: 'STANDARD',
      iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
    });
    const [first, second] = bodies('PUT', '/iam') as [Json, Json];
    const ours = (policy: Json) =>
      (policy.bindings as { role: string; members: string[] }[]).filter((b) =>
        b.members.some((m) => m.includes('wsfleet-')),
      );
    expect(ours(first)).toEqual([
      {
        role: 'roles/storage.objectAdmin',
        members: [`serviceAccount:wsfleet-renewer@${PROJECT}.iam.gserviceaccount.com`],
      },
    ]);
    expect(ours(second)).toEqual([
      {
        role: 'roles/storage.objectAdmin',
        members: [`serviceAccount:wsfleet-renewer@${PROJECT}.iam.gserviceaccount.com`],
      },
      {
        role: 'roles/storage.objectViewer',
        members: [`serviceAccount:wsfleet-app@${PROJECT}.iam.gserviceaccount.com`],
        // Only certs/: the account key and the renewer state stay out of the app VMs' reach.
        condition: {
          title: 'wsfleet-certs-only',
          expression: `resource.name.startsWith("projects/_/buckets/${PROJECT}-wsfleet-certs/objects/certs/")`,
        },
      },
    ]);
  });

  it('pins the image, the user-data and the account in each template', () => {
    // The app's first; the renewer's once DNS points at the load balancer.
    const [app, renewer] = bodies('POST', '/global/instanceTemplates') as [Json, Json];
    expect(renewer.name).toMatch(/^wsfleet-renewer-[0-9a-f]{10}$/);
    expect(app.name).toMatch(/^wsfleet-app-[0-9a-f]{10}$/);
    for (const [template, role, image] of [
      [renewer, 'renewer', RENEWER_IMAGE],
      [app, 'app', APP_IMAGE],
    ] as const) {
      const properties = template.properties as Json;
      expect(properties.serviceAccounts).toEqual([
        {
          email: `wsfleet-${role}@${PROJECT}.iam.gserviceaccount.com`,
          scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        },
      ]);
      const disk = (properties.disks as Json[])[0] as Json;
      // The image itself, never a family: autohealing recreates exactly this version.
      expect((disk.initializeParams as Json).sourceImage).toBe(
        `${origin}/compute/v1/projects/${PROJECT}/global/images/${image}`,
      );
      expect(properties.tags).toEqual({ items: [`wsfleet-${role}`] });
      expect(properties.shieldedInstanceConfig).toEqual({
        enableIntegrityMonitoring: true,
        enableSecureBoot: true,
        enableVtpm: true,
      });
      expect(metadata(template, 'user-data')).toMatch(/^#cloud-config\n/);
      expect(metadata(template, 'block-project-ssh-keys')).toBe('true');
    }
    const appData = metadata(app, 'user-data') ?? '';
    // Memorystore closed: TLS on 6378 trusting the instance's CA, AUTH fetched on the VM.
    expect(appData).toContain('WSFLEET_REDIS_URL=\\"rediss://10.30.0.3:6378\\"');
    expect(appData).toContain('WSFLEET_REDIS_CA_FILE=\\"/etc/wsfleet/redis-ca.pem\\"');
    expect(appData).toContain(
      `WSFLEET_REDIS_INSTANCE=\\"projects/${PROJECT}/locations/europe-west4/instances/wsfleet-redis\\"`,
    );
    expect(appData).not.toContain('WSFLEET_REDIS_PASSWORD');
    expect(appData).not.toContain('auth-wsfleet-redis-');
    expect(appData).toContain('WSFLEET_RENEWER=\\"10.20.0.2:80\\"');
    expect(appData).toContain(`WSFLEET_STORE=\\"gs://${PROJECT}-wsfleet-certs\\"`);
    expect(metadata(renewer, 'user-data')).toContain('WSFLEET_STAGING=\\"true\\"');
    // App VMs have no external address; the renewer has one to reach the ACME CA.
    const nic = (t: Json) => ((t.properties as Json).networkInterfaces as Json[])[0] as Json;
    expect(nic(app).accessConfigs).toBeUndefined();
    expect(nic(renewer).accessConfigs).toEqual([{ name: 'external-nat', type: 'ONE_TO_ONE_NAT' }]);
  });

  it('creates the groups with autohealing, the renewer on its reserved address', () => {
    const healthCheck = (name: string) =>
      `${origin}/compute/v1/projects/${PROJECT}/regions/europe-west4/healthChecks/${name}`;
    const renewer = only('POST', '/zones/europe-west4-a/instanceGroupManagers');
    expect(renewer).toMatchObject({
      name: 'wsfleet-renewer',
      targetSize: 0,
      // HTTP /livez, which the daemon answers: systemd's socket holds port 80 while it is dead.
      autoHealingPolicies: [{ healthCheck: healthCheck('wsfleet-renewer-live'), initialDelaySec: 300 }],
      statefulPolicy: { preservedState: { internalIPs: { nic0: { autoDelete: 'NEVER' } } } },
      updatePolicy: {
        type: 'PROACTIVE',
        replacementMethod: 'RECREATE',
        maxSurge: { fixed: 0 },
        maxUnavailable: { fixed: 1 },
      },
    });
    expect(only('POST', '/createInstances')).toMatchObject({
      instances: [
        {
          name: 'wsfleet-renewer-0',
          preservedState: {
            internalIPs: {
              nic0: {
                autoDelete: 'NEVER',
                ipAddress: { address: `projects/${PROJECT}/regions/europe-west4/addresses/wsfleet-renewer` },
              },
            },
          },
        },
      ],
    });
    expect(only('POST', '/regions/europe-west4/addresses', 'wsfleet-renewer')).toMatchObject({
      address: '10.20.0.2',
      addressType: 'INTERNAL',
    });
    const app = only('POST', '/regions/europe-west4/instanceGroupManagers');
    expect(app).toMatchObject({
      name: 'wsfleet-app',
      targetSize: 3,
      baseInstanceName: 'wsfleet-app',
      autoHealingPolicies: [{ healthCheck: healthCheck('wsfleet-app-live'), initialDelaySec: 300 }],
      updatePolicy: {
        type: 'PROACTIVE',
        replacementMethod: 'SUBSTITUTE',
        minimalAction: 'REPLACE',
        maxSurge: { fixed: 3 },
        maxUnavailable: { fixed: 0 },
      },
    });
    expect(
      (app.distributionPolicy as { zones: { zone: string }[] }).zones.map((z) => z.zone.split('/').pop()),
    ).toEqual(['europe-west4-a', 'europe-west4-b', 'europe-west4-c']);
    // Readiness for the load balancer; liveness for autohealing, so a Redis blip recreates no VM.
    expect(only('POST', '/healthChecks', 'wsfleet-app-http')).toMatchObject({
      type: 'HTTP',
      httpHealthCheck: { port: 80, requestPath: '/readyz' },
    });
    expect(only('POST', '/healthChecks', 'wsfleet-app-live')).toMatchObject({
      type: 'HTTP',
      httpHealthCheck: { port: 80, requestPath: '/livez' },
    });
    expect(only('POST', '/healthChecks', 'wsfleet-renewer-live')).toMatchObject({
      type: 'HTTP',
      httpHealthCheck: { port: 80, requestPath: '/livez' },
    });
  });

  it('builds a regional passthrough load balancer on the static address', () => {
    const region = `${origin}/compute/v1/projects/${PROJECT}/regions/europe-west4`;
    expect(only('POST', '/backendServices')).toEqual({
      name: 'wsfleet-app',
      loadBalancingScheme: 'EXTERNAL',
      protocol: 'TCP',
      sessionAffinity: 'CLIENT_IP',
      connectionDraining: { drainingTimeoutSec: 30 },
      healthChecks: [`${region}/healthChecks/wsfleet-app-http`],
      timeoutSec: 30,
    });
    expect(only('PUT', '/backendServices/wsfleet-app').backends).toEqual([
      { group: `${region}/instanceGroups/wsfleet-app` },
    ]);
    expect(only('POST', '/forwardingRules')).toEqual({
      name: 'wsfleet-app',
      loadBalancingScheme: 'EXTERNAL',
      networkTier: 'PREMIUM',
      IPProtocol: 'TCP',
      ports: ['80', '443'],
      IPAddress: `${region}/addresses/wsfleet-app`,
      backendService: `${region}/backendServices/wsfleet-app`,
    });
    expect(only('POST', '/regions/europe-west4/addresses', 'wsfleet-app')).toEqual({
      name: 'wsfleet-app',
      networkTier: 'PREMIUM',
    });
    expect(only('POST', '/instances')).toEqual({
      tier: 'BASIC',
      memorySizeGb: 1,
      redisVersion: 'REDIS_7_0',
      authorizedNetwork: `projects/${PROJECT}/global/networks/wsfleet`,
      connectMode: 'DIRECT_PEERING',
      authEnabled: true,
      transitEncryptionMode: 'SERVER_AUTHENTICATION',
      persistenceConfig: { persistenceMode: 'DISABLED' },
    });
  });

  it('creates nothing on a second run and says so', { timeout: 400_000 }, async () => {
    fleet.endpoint.clear();
    const result = await fleet.run(deploy, [...flags(), '--no-wait']);
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([]);
    expect(result.out).toContain('nothing to do: all 30 steps were up to date, nothing was created');
  });

  it('rolls out new images: new templates, then a rolling update of each group', {
    timeout: 180_000,
  }, async () => {
    await fleet.addImage('app', 'wsfleet-app-0-2-0-222222222222', '2026-02-01T00:00:00.000Z');
    await fleet.addImage('renewer', 'wsfleet-renewer-0-2-0-222222222222', '2026-02-01T00:00:00.000Z');
    fleet.endpoint.clear();
    const result = await fleet.run(rollout, ['--images-dir', fleet.imagesDir, '--wait-timeout', '60']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([
      `POST ${C}/global/instanceTemplates`,
      `PATCH ${C}/zones/europe-west4-a/instanceGroupManagers/wsfleet-renewer`,
      `POST ${C}/global/instanceTemplates`,
      `PATCH ${R}/instanceGroupManagers/wsfleet-app`,
    ]);
    const [renewerTemplate, appTemplate] = bodies('POST', '/global/instanceTemplates') as [Json, Json];
    const image = (t: Json) => {
      const disk = ((t.properties as Json).disks as Json[])[0] as Json;
      return String((disk.initializeParams as Json).sourceImage)
        .split('/')
        .pop();
    };
    expect(image(renewerTemplate)).toBe('wsfleet-renewer-0-2-0-222222222222');
    expect(image(appTemplate)).toBe('wsfleet-app-0-2-0-222222222222');
    const [renewerUpdate, appUpdate] = bodies('PATCH', '/instanceGroupManagers/wsfleet-renewer').concat(
      bodies('PATCH', '/instanceGroupManagers/wsfleet-app'),
    ) as [Json, Json];
    const template = (name: unknown) =>
      `${origin}/compute/v1/projects/${PROJECT}/global/instanceTemplates/${String(name)}`;
    expect(renewerUpdate).toEqual({
      versions: [{ instanceTemplate: template(renewerTemplate.name) }],
      updatePolicy: {
        type: 'PROACTIVE',
        replacementMethod: 'RECREATE',
        maxSurge: { fixed: 0 },
        maxUnavailable: { fixed: 1 },
      },
    });
    expect(appUpdate).toEqual({
      versions: [{ instanceTemplate: template(appTemplate.name) }],
      updatePolicy: {
        type: 'PROACTIVE',
        replacementMethod: 'SUBSTITUTE',
        maxSurge: { fixed: 3 },
        maxUnavailable: { fixed: 0 },
      },
    });
    // Then it waits until each group is stable (gcloud reads the group until it is).
    const last = fleet.endpoint.requests.at(-1);
    expect(last?.method).toBe('GET');
    expect(last?.path).toMatch(/\/instanceGroupManagers\/wsfleet-app$/);
    expect(result.out).toContain('rolled out: both groups are stable on the new templates');
  });

  it("moves the renewer's autohealing of a fleet an older deploy made (TCP 80) to /livez on rollout", {
    timeout: 180_000,
  }, async () => {
    const regional = `/compute/v1/projects/${PROJECT}/regions/europe-west4/healthChecks`;
    const group = fleet.endpoint.resources.get(
      `/compute/v1/projects/${PROJECT}/zones/europe-west4-a/instanceGroupManagers/wsfleet-renewer`,
    );
    const live = fleet.endpoint.resources.get(`${regional}/wsfleet-renewer-live`);
    if (group === undefined || live === undefined)
      throw new Error('the deploy left no renewer group or check');
    // What an older deploy left: a TCP check on port 80, the group's autohealing on it.
    fleet.endpoint.resources.delete(`${regional}/wsfleet-renewer-live`);
    fleet.endpoint.resources.set(`${regional}/wsfleet-renewer-tcp`, {
      ...live,
      name: 'wsfleet-renewer-tcp',
      type: 'TCP',
      httpHealthCheck: undefined,
      tcpHealthCheck: { port: 80 },
      selfLink: `${origin}${regional}/wsfleet-renewer-tcp`,
    });
    group.autoHealingPolicies = [
      { healthCheck: `${origin}${regional}/wsfleet-renewer-tcp`, initialDelaySec: 300 },
    ];
    fleet.endpoint.clear();
    const result = await fleet.run(rollout, ['--images-dir', fleet.imagesDir, '--wait-timeout', '60']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([
      `POST ${R}/healthChecks`,
      `PATCH ${C}/zones/europe-west4-a/instanceGroupManagers/wsfleet-renewer`,
    ]);
    expect(only('POST', '/healthChecks')).toMatchObject({
      name: 'wsfleet-renewer-live',
      type: 'HTTP',
      httpHealthCheck: { port: 80, requestPath: '/livez' },
    });
    expect(only('PATCH', '/instanceGroupManagers/wsfleet-renewer')).toMatchObject({
      autoHealingPolicies: [
        {
          healthCheck: `${origin}/compute/v1/projects/${PROJECT}/regions/europe-west4/healthChecks/wsfleet-renewer-live`,
          initialDelaySec: 300,
        },
      ],
    });
  });

  it('shows the groups, their health and images, and the certificate expiry', {
    timeout: 120_000,
  }, async () => {
    fleet.endpoint.clear();
    const result = await fleet.run(status, ['--https-port', String(fleet.httpsPort)]);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([]);
    expect(result.out).toContain('Load balancer: 127.0.0.1, TCP 80, 443');
    expect(result.out).toMatch(
      /wsfleet-app: 3\/3 VMs, stable, template wsfleet-app-[0-9a-f]{10} \(image wsfleet-app-0-2-0-222222222222\)/,
    );
    expect(result.out).toMatch(/wsfleet-renewer: 1\/1 VMs, stable/);
    expect(result.out.match(/ RUNNING {2}HEALTHY /g)).toHaveLength(3);
    expect(result.out).toMatch(
      new RegExp(`${DOMAIN.replaceAll('.', '\\.')}: expires \\S+ \\(in (89|90) days\\)`),
    );
  });
});
