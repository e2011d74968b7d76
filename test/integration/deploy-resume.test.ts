/**
 * A deploy that fails halfway and is run again, then the teardown, with the real gcloud against
 * the recording API stand-in: the second run continues where the first stopped (nothing is
 * created twice); the teardown asks first, deletes in reverse order and keeps the bucket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { teardown } from '../../scripts/deploy/teardown-command.ts';
import {
  APP_IMAGE,
  addFirstImages,
  C,
  type FleetFixture,
  fleetDocument,
  freshDeploy,
  mutations,
  PROJECT,
  R,
  RENEWER_IMAGE,
  RENEWER_MUTATIONS,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';
import type { Json } from '../helpers/gcloud-endpoint-model.ts';
import { type ChallTestSrv, startChallTestSrv } from '../helpers/pebble-challtestsrv.ts';

const BUCKET = `${PROJECT}-wsfleet-certs`;

describe('wsfleet deploy after a failure, and wsfleet teardown (real gcloud, recording API)', () => {
  let fleet: FleetFixture;
  let dns: ChallTestSrv;
  const flags = () => [
    '--images-dir',
    fleet.imagesDir,
    '--no-wait',
    '--dns-server',
    dns.dnsServer,
    '--dns-timeout',
    '2',
    '--poll-seconds',
    '0.2',
  ];

  beforeAll(async () => {
    // Public DNS that knows no name yet.
    dns = await startChallTestSrv({ defaultIPv4: '' });
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }));
    await addFirstImages(fleet);
  });

  afterAll(async () => {
    await fleet?.close();
    await dns?.stop();
  });

  it('stops at a refused step with its code and the command', { timeout: 180_000 }, async () => {
    fleet.endpoint.failNext({
      when: (r) => r.method === 'POST' && (r.body as Json | undefined)?.name === 'wsfleet-allow-challenges',
      status: 403,
      message: `Required 'compute.firewalls.create' permission for 'projects/${PROJECT}/global/firewalls/wsfleet-allow-challenges'`,
    });
    const result = await fleet.run(deploy, flags());
    expect(result.code).toBe(1);
    expect(result.err).toContain('wsfleet deploy: WSFLEET_GCLOUD_DENIED: ');
    expect(result.err).toContain("Required 'compute.firewalls.create' permission");
    expect(result.err).toContain(
      'command: gcloud compute firewall-rules create wsfleet-allow-challenges --network=wsfleet --direction=INGRESS --action=ALLOW --rules=tcp:80 --source-tags=wsfleet-app --target-tags=wsfleet-renewer --project=proj-test --format=json --quiet',
    );
    expect(result.out).toContain('(10/27) firewall rule wsfleet-allow-challenges (tcp:80): creating…');
    // Up to the refused rule, which was asked for once.
    expect(mutations(fleet.endpoint.requests)).toEqual(freshDeploy({ redis: false }).slice(0, 10));
  });

  it('continues where it stopped when run again, and prints the DNS records, but starts no renewer before they resolve', {
    timeout: 180_000,
  }, async () => {
    fleet.endpoint.clear();
    const result = await fleet.run(deploy, flags());
    expect(result.code).toBe(1);
    expect(result.out).toContain('(9/27) firewall rule wsfleet-allow-web (tcp:80,tcp:443): up to date');
    expect(result.out).toContain('ws.example.com. 300 IN A 127.0.0.1');
    expect(result.out).toContain('DNS: 0 of 1 names resolve to 127.0.0.1 (ws.example.com: no A record)');
    expect(result.err).toContain('wsfleet deploy: WSFLEET_DEPLOY_DNS_TIMEOUT: ');
    expect(result.err).toContain('--no-wait-dns');
    // Everything up to the renewer, which would only fail its self-check and back off.
    const fresh = freshDeploy({ redis: false });
    expect(mutations(fleet.endpoint.requests)).toEqual(
      fresh.slice(9, fresh.length - RENEWER_MUTATIONS.length),
    );
    // The app reaches the configured Redis; no Memorystore instance or its API is involved.
    expect(fleet.endpoint.requests.some((r) => r.path.startsWith('/redis/'))).toBe(false);
  });

  it('starts the renewer once the names resolve to the address', { timeout: 180_000 }, async () => {
    await dns.addA('ws.example.com', ['127.0.0.1']);
    fleet.endpoint.clear();
    const result = await fleet.run(deploy, flags());
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain('DNS: every name resolves to 127.0.0.1');
    expect(mutations(fleet.endpoint.requests)).toEqual([...RENEWER_MUTATIONS]);
  });

  it('asks before tearing down, and deletes nothing without an answer', async () => {
    fleet.endpoint.clear();
    const declined = await fleet.run(teardown, [], async () => 'not-the-project');
    expect(declined.code).toBe(1);
    expect(declined.err).toContain('WSFLEET_TEARDOWN_UNCONFIRMED');
    const unasked = await fleet.run(teardown, []);
    expect(unasked.code).toBe(1);
    expect(unasked.err).toContain('pass --yes to go on');
    expect(fleet.endpoint.requests).toEqual([]);
  });

  it('tears down in reverse order and keeps the bucket', { timeout: 180_000 }, async () => {
    // The renewer's TCP check an older deploy made, still there.
    const checks = `/compute/v1/projects/${PROJECT}/regions/europe-west4/healthChecks`;
    fleet.endpoint.resources.set(`${checks}/wsfleet-renewer-tcp`, {
      name: 'wsfleet-renewer-tcp',
      type: 'TCP',
      tcpHealthCheck: { port: 80 },
      selfLink: `${fleet.endpoint.url}${checks}/wsfleet-renewer-tcp`,
    });
    fleet.endpoint.clear();
    const result = await fleet.run(teardown, [], async () => PROJECT);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([
      `DELETE ${R}/forwardingRules/wsfleet-app`,
      `DELETE ${R}/backendServices/wsfleet-app`,
      `DELETE ${R}/instanceGroupManagers/wsfleet-app`,
      `DELETE ${C}/zones/europe-west4-a/instanceGroupManagers/wsfleet-renewer`,
      expect.stringMatching(new RegExp(`^DELETE ${C}/global/instanceTemplates/wsfleet-app-[0-9a-f]{10}$`)),
      expect.stringMatching(
        new RegExp(`^DELETE ${C}/global/instanceTemplates/wsfleet-renewer-[0-9a-f]{10}$`),
      ),
      `DELETE ${R}/healthChecks/wsfleet-app-http`,
      `DELETE ${R}/healthChecks/wsfleet-app-live`,
      `DELETE ${R}/healthChecks/wsfleet-renewer-live`,
      `DELETE ${R}/healthChecks/wsfleet-renewer-tcp`,
      `DELETE ${R}/addresses/wsfleet-app`,
      `DELETE ${R}/addresses/wsfleet-renewer`,
      `DELETE ${C}/global/firewalls/wsfleet-allow-web`,
      `DELETE ${C}/global/firewalls/wsfleet-allow-challenges`,
      `DELETE ${C}/global/firewalls/wsfleet-allow-health-checks`,
      `PUT /storage/v1/b/${BUCKET}/iam`,
      `PUT /storage/v1/b/${BUCKET}/iam`,
      // The kept secrets lose the app account's grants before it is deleted (deploy-grants.test.ts).
      'POST /secretmanager/v1/…/secrets/wsfleet-token-secret:setIamPolicy',
      'POST /secretmanager/v1/…/secrets/wsfleet-api-key:setIamPolicy',
      `DELETE /iam/v1/projects/-/serviceAccounts/wsfleet-renewer@${PROJECT}.iam.gserviceaccount.com`,
      `DELETE /iam/v1/projects/-/serviceAccounts/wsfleet-app@${PROJECT}.iam.gserviceaccount.com`,
      `DELETE ${R}/subnetworks/wsfleet-europe-west4`,
      `DELETE ${C}/global/networks/wsfleet`,
    ]);
    // Kept, with none of the deleted accounts left in its policy.
    const left = [...fleet.endpoint.resources.keys()].filter((k) => !k.includes('/operations/'));
    expect(left.sort()).toEqual([
      `/compute/v1/projects/${PROJECT}/global/images/${APP_IMAGE}`,
      `/compute/v1/projects/${PROJECT}/global/images/${RENEWER_IMAGE}`,
      // The fleet's secrets are kept as the bucket is (README: teardown).
      ...['wsfleet-api-key', 'wsfleet-token-secret'].flatMap((id) =>
        ['', '/iam', '/versions'].map((s) => `/secretmanager/v1/secrets/${id}${s}`),
      ),
      `/serviceusage/v1/projects/${PROJECT}`,
      `/storage/v1/b/${BUCKET}`,
      `/storage/v1/b/${BUCKET}/iam`,
    ]);
    expect(JSON.stringify(fleet.endpoint.resources.get(`/storage/v1/b/${BUCKET}/iam`))).not.toContain(
      'serviceAccount:',
    );
    for (const id of ['wsfleet-api-key', 'wsfleet-token-secret'])
      expect(
        JSON.stringify(fleet.endpoint.resources.get(`/secretmanager/v1/secrets/${id}/iam`)),
      ).not.toContain('serviceAccount:');
    expect(result.out).toContain(`kept gs://${BUCKET}`);
  });
});
