/**
 * `wsfleet rollout --rotate-secrets` and `--finish-rotation` with the real gcloud against the
 * recording stand-in: the gcloud calls in order, a finish refused while tokens of the previous
 * secret may still be valid, and the versions each run leaves enabled. One fleet, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { rollout } from '../../scripts/deploy/rollout-command.ts';
import {
  addFirstImages,
  type FleetFixture,
  fleetDocument,
  mutations,
  R,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';
import { secretPath } from '../helpers/gcloud-endpoint-secrets.ts';

const SECRETS = ['wsfleet-token-secret', 'wsfleet-api-key'];

describe('rotating the fleet secrets (real gcloud, recording API)', () => {
  let fleet: FleetFixture;

  type Kept = { state: string; data: string; createTime: string };
  const versions = (id: string) =>
    (fleet.endpoint.resources.get(`${secretPath(id)}/versions`)?.versions ?? []) as Kept[];
  const states = (id: string) => versions(id).map((v) => v.state);

  beforeAll(async () => {
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }));
    await addFirstImages(fleet);
    const deployed = await fleet.run(deploy, ['--images-dir', fleet.imagesDir, '--no-wait', '--no-wait-dns']);
    expect(deployed.err).toBe('');
    expect(deployed.code).toBe(0);
  }, 600_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('adds a version of each secret, then replaces the app VMs, which read both at boot', {
    timeout: 300_000,
  }, async () => {
    fleet.endpoint.clear();
    const result = await fleet.run(rollout, ['--rotate-secrets', '--no-wait']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([
      'POST /secretmanager/v1/…/secrets/wsfleet-token-secret:addVersion',
      'POST /secretmanager/v1/…/secrets/wsfleet-api-key:addVersion',
      `PATCH ${R}/instanceGroupManagers/wsfleet-app`,
    ]);
    const patch = fleet.endpoint.requests.find((r) => r.method === 'PATCH')?.body ?? {};
    expect(patch.updatePolicy).toMatchObject({ minimalAction: 'REPLACE', type: 'PROACTIVE' });
    for (const id of SECRETS) {
      expect(states(id)).toEqual(['ENABLED', 'ENABLED']);
      const [before, after] = versions(id).map((v) => Buffer.from(v.data, 'base64').toString());
      expect(after).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(after).not.toBe(before);
      expect(result.out).not.toContain(after);
    }
    expect(result.out).toContain('wsfleet rollout --finish-rotation');

    // Run again (a run cut short): the rotation under way is continued, no third version.
    fleet.endpoint.clear();
    expect((await fleet.run(rollout, ['--rotate-secrets', '--no-wait'])).code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([`PATCH ${R}/instanceGroupManagers/wsfleet-app`]);
  });

  it('refuses to finish while a token of the previous secret may still be valid, changing nothing', {
    timeout: 300_000,
  }, async () => {
    fleet.endpoint.clear();
    const result = await fleet.run(rollout, ['--finish-rotation', '--no-wait']);
    expect(result.code).toBe(1);
    expect(result.err).toContain('WSFLEET_ROTATION_TOO_EARLY');
    expect(mutations(fleet.endpoint.requests)).toEqual([]);
    for (const id of SECRETS) expect(states(id)).toEqual(['ENABLED', 'ENABLED']);
  });

  it('finishes once they have expired: the previous versions disabled, the app VMs replaced', {
    timeout: 300_000,
  }, async () => {
    // The new versions were made more than --max-token-ttl (and the leeway) ago.
    const long = new Date(Date.now() - 3600_000 - 31_000).toISOString();
    for (const id of SECRETS) for (const v of versions(id)) v.createTime = long;
    fleet.endpoint.clear();
    const result = await fleet.run(rollout, ['--finish-rotation', '--no-wait', '--max-token-ttl', '3600']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(mutations(fleet.endpoint.requests)).toEqual([
      'POST /secretmanager/v1/…/secrets/wsfleet-token-secret/versions/1:disable',
      'POST /secretmanager/v1/…/secrets/wsfleet-api-key/versions/1:disable',
      `PATCH ${R}/instanceGroupManagers/wsfleet-app`,
    ]);
    for (const id of SECRETS) expect(states(id)).toEqual(['DISABLED', 'ENABLED']);
  });
});
