/**
 * What the app account is granted, and what is left of it after a teardown, with the real
 * gcloud against the recording stand-in. One fleet, in order: each test starts from what the one
 * before left.
 *
 * - The AUTH fetch of the app VMs (`redis.instances.getAuthString`) is a project custom role
 *   with that one permission, bound to the app account alone.
 * - The teardown keeps the secrets and the role but removes the account's grants on them: a
 *   grant to a deleted account lingers as `deleted:serviceAccount:…?uid=…`.
 * - A deploy after a teardown, with the role deleted by hand (its id reserved for 37 days) and
 *   a secret left without an enabled version (a deploy cut short between `secrets create` and
 *   its first version), undeletes the one and gives the other a value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { SECRET_ACCESSOR } from '../../scripts/deploy/plan-secrets.ts';
import { teardown } from '../../scripts/deploy/teardown-command.ts';
import {
  addFirstImages,
  type FleetFixture,
  fleetDocument,
  mutations,
  PROJECT,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';
import type { Json } from '../helpers/gcloud-endpoint-model.ts';
import { secretPath } from '../helpers/gcloud-endpoint-secrets.ts';

const APP_EMAIL = `wsfleet-app@${PROJECT}.iam.gserviceaccount.com`;
const ROLE = `projects/${PROJECT}/roles/wsfleet_redis_auth`;
const ROLE_PATH = `/iam/v1/projects/${PROJECT}/roles/wsfleet_redis_auth`;
const SECRETS = ['wsfleet-token-secret', 'wsfleet-api-key'];

type Binding = { role: string; members: string[] };

describe('the app account’s grants (real gcloud, recording API)', () => {
  let fleet: FleetFixture;

  const projectPolicy = () =>
    (fleet.endpoint.resources.get('/cloudresourcemanager/v1/project-iam')?.bindings ?? []) as Binding[];
  const secretPolicy = (id: string) =>
    (fleet.endpoint.resources.get(`${secretPath(id)}/iam`)?.bindings ?? []) as Binding[];
  /** Every binding, on the project or a fleet secret, that names the app account in any form. */
  const appGrants = () =>
    [
      ...projectPolicy().map((b) => ['project', b] as const),
      ...SECRETS.flatMap((id) => secretPolicy(id).map((b) => [id, b] as const)),
    ].flatMap(([where, b]) =>
      b.members.filter((m) => m.includes(APP_EMAIL)).map((m) => `${where} ${b.role} ${m}`),
    );
  const versionStates = (id: string) =>
    ((fleet.endpoint.resources.get(`${secretPath(id)}/versions`)?.versions ?? []) as { state: string }[]).map(
      (v) => v.state,
    );
  const flags = () => ['--images-dir', fleet.imagesDir, '--no-wait', '--no-wait-dns'];

  beforeAll(async () => {
    fleet = await startFleetFixture(fleetDocument());
    await addFirstImages(fleet);
  });

  afterAll(async () => {
    await fleet?.close();
  });

  it('grants the AUTH string read through a custom role of one permission, to the app account alone', {
    timeout: 600_000,
  }, async () => {
    const result = await fleet.run(deploy, flags());
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(fleet.endpoint.resources.get(ROLE_PATH)).toMatchObject({
      name: ROLE,
      includedPermissions: ['redis.instances.getAuthString'],
      stage: 'GA',
    });
    expect(fleet.endpoint.resources.get(ROLE_PATH)?.deleted).toBeUndefined();
    // On the project: the custom role alone, for the app account alone; the owner's untouched.
    expect(projectPolicy()).toEqual([
      { role: 'roles/owner', members: ['user:owner@example.com'] },
      { role: ROLE, members: [`serviceAccount:${APP_EMAIL}`] },
    ]);
    expect(appGrants().sort()).toEqual(
      [
        `project ${ROLE} serviceAccount:${APP_EMAIL}`,
        ...SECRETS.map((id) => `${id} ${SECRET_ACCESSOR} serviceAccount:${APP_EMAIL}`),
      ].sort(),
    );
    // Made before any app VM could boot and ask for the string.
    const changes = mutations(fleet.endpoint.requests);
    const bound = changes.indexOf(`POST /cloudresourcemanager/v1/projects/${PROJECT}:setIamPolicy`);
    expect(changes.indexOf('POST /iam/v1/…/roles')).toBeGreaterThan(-1);
    expect(changes.indexOf('POST /iam/v1/…/roles')).toBeLessThan(bound);
    expect(bound).toBeLessThan(changes.indexOf('POST /compute/v1/…/global/instanceTemplates'));
  });

  it('tears down the grants on what it keeps: no binding, live or deleted, names the app account', {
    timeout: 600_000,
  }, async () => {
    const result = await fleet.run(teardown, ['--yes']);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(fleet.endpoint.resources.has(`/iam/v1/projects/${PROJECT}/serviceAccounts/${APP_EMAIL}`)).toBe(
      false,
    );
    expect(appGrants()).toEqual([]);
    // Kept: the secrets with their values, and the role (granting nothing now), whose id a
    // deletion would reserve for 37 days.
    for (const id of SECRETS) expect(versionStates(id)).toEqual(['ENABLED']);
    expect(fleet.endpoint.resources.get(ROLE_PATH)?.deleted).toBeUndefined();
  });

  it('redeploys onto a role deleted by hand and a secret without an enabled version', {
    timeout: 600_000,
  }, async () => {
    const { endpoint } = fleet;
    endpoint.resources.set(ROLE_PATH, { ...(endpoint.resources.get(ROLE_PATH) as Json), deleted: true });
    const versions = endpoint.resources.get(`${secretPath('wsfleet-api-key')}/versions`) as {
      versions: { state: string }[];
    };
    for (const v of versions.versions) v.state = 'DISABLED';
    endpoint.clear();
    const result = await fleet.run(deploy, flags());
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(endpoint.resources.get(ROLE_PATH)?.deleted).toBeUndefined();
    expect(
      mutations(endpoint.requests).filter((m) => m.includes('/roles')),
      'undeleted, not created anew (Google refuses a deleted role id for 37 days)',
    ).toEqual(['POST /iam/v1/…/roles/wsfleet_redis_auth:undelete']);
    expect(versionStates('wsfleet-api-key')).toEqual(['DISABLED', 'ENABLED']);
    expect(versionStates('wsfleet-token-secret')).toEqual(['ENABLED']);
    expect(appGrants().sort()).toEqual(
      [
        `project ${ROLE} serviceAccount:${APP_EMAIL}`,
        ...SECRETS.map((id) => `${id} ${SECRET_ACCESSOR} serviceAccount:${APP_EMAIL}`),
      ].sort(),
    );
  });
});
