/**
 * The plans of the app account's grants, from what gcloud's reads show: the Redis AUTH custom
 * role (created, undeleted, put right), its project binding and each secret's binding (a
 * deleted account's `deleted:` form removed), and a secret without an enabled version.
 */
import { describe, expect, it } from 'vitest';
import type { FleetConfig } from '../../scripts/deploy/fleet-config.ts';
import { validateFleet } from '../../scripts/deploy/fleet-file.ts';
import { fleetNames } from '../../scripts/deploy/names.ts';
import { redisAuthBindingStep, redisAuthRoleStep } from '../../scripts/deploy/plan-redis-access.ts';
import { SECRET_ACCESSOR, secretBindingStep, secretSteps } from '../../scripts/deploy/plan-secrets.ts';
import { fleetDocument } from '../helpers/gcloud-endpoint-fleet.ts';

function configOf(overrides: Record<string, unknown> = {}): FleetConfig {
  const { config, problems } = validateFleet(fleetDocument(overrides));
  if (config === undefined) throw new Error(problems.join('\n'));
  return config;
}

const APP = 'serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com';
const GONE = 'deleted:serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com?uid=1000042';
const ROLE = 'projects/proj-test/roles/wsfleet_redis_auth';

describe('the Redis AUTH custom role', () => {
  const config = configOf();
  const step = redisAuthRoleStep(config, fleetNames(config));

  it('is named from the fleet without hyphens, which role ids do not take', () => {
    const other = configOf({ name: 'eu-west-2' });
    expect(fleetNames(other).redisAuthRole).toBe('eu_west_2_redis_auth');
    expect(step.describe).toEqual(['iam', 'roles', 'describe', 'wsfleet_redis_auth']);
  });

  it.each([
    [
      'missing: created with the one permission',
      undefined,
      [
        'iam roles create wsfleet_redis_auth --title=wsfleet wsfleet: Redis AUTH string --description=Lets the app VMs of fleet wsfleet read the AUTH string of its Memorystore instance --permissions=redis.instances.getAuthString --stage=GA',
      ],
    ],
    ['as wanted: nothing', { includedPermissions: ['redis.instances.getAuthString'] }, []],
    [
      'deleted (its id reserved): undeleted',
      { includedPermissions: ['redis.instances.getAuthString'], deleted: true },
      ['iam roles undelete wsfleet_redis_auth'],
    ],
    [
      'holding more: put back to the one permission',
      { includedPermissions: ['redis.instances.getAuthString', 'redis.instances.update'] },
      ['iam roles update wsfleet_redis_auth --permissions=redis.instances.getAuthString'],
    ],
  ])('%s', (_, found, commands) => {
    expect(step.plan(found).map((c) => c.join(' '))).toEqual(commands);
  });
});

describe('the project binding of the Redis AUTH role', () => {
  const config = configOf();
  const names = fleetNames(config);
  const policy = (...bindings: unknown[]) => ({ etag: 'x', bindings });

  it.each([
    [
      'adds it for the app account',
      'add',
      policy(),
      [`add-iam-policy-binding proj-test --member=${APP} --role=${ROLE}`],
    ],
    ['leaves it when there', 'add', policy({ role: ROLE, members: [APP] }), []],
    [
      'says --condition=None on a policy with conditions, as gcloud requires',
      'add',
      policy({
        role: 'roles/viewer',
        members: ['user:a@example.com'],
        condition: { title: 't', expression: 'true' },
      }),
      [`add-iam-policy-binding proj-test --member=${APP} --role=${ROLE} --condition=None`],
    ],
    [
      'removes a deleted account’s lingering binding besides adding the live one',
      'add',
      policy({ role: ROLE, members: [GONE] }),
      [
        `add-iam-policy-binding proj-test --member=${APP} --role=${ROLE}`,
        `remove-iam-policy-binding proj-test --member=${GONE} --role=${ROLE}`,
      ],
    ],
    [
      'teardown: removes both forms',
      'remove',
      policy({ role: ROLE, members: [APP, GONE, 'user:b@example.com'] }),
      [
        `remove-iam-policy-binding proj-test --member=${APP} --role=${ROLE}`,
        `remove-iam-policy-binding proj-test --member=${GONE} --role=${ROLE}`,
      ],
    ],
    [
      'teardown: nothing when neither is there',
      'remove',
      policy({ role: ROLE, members: ['user:b@example.com'] }),
      [],
    ],
  ] as const)('%s', (_, mode, found, commands) => {
    const step = redisAuthBindingStep(config, names, mode);
    expect(step.plan(found).map((c) => c.slice(1).join(' '))).toEqual(commands);
  });
});

describe('a secret’s binding and versions', () => {
  it('teardown removes the app account’s binding and any deleted form of it', () => {
    const found = { bindings: [{ role: SECRET_ACCESSOR, members: [APP, GONE] }] };
    expect(secretBindingStep('s', APP, 'remove').plan(found)).toEqual([
      ['secrets', 'remove-iam-policy-binding', 's', `--member=${APP}`, `--role=${SECRET_ACCESSOR}`],
      ['secrets', 'remove-iam-policy-binding', 's', `--member=${GONE}`, `--role=${SECRET_ACCESSOR}`],
    ]);
    expect(secretBindingStep('s', APP, 'remove').plan(undefined)).toEqual([]);
  });

  it.each([
    ['a missing secret is created with a value', undefined, 'secrets create wsfleet-token-secret'],
    ['a secret without versions gets one', [], 'secrets versions add wsfleet-token-secret'],
    [
      'a secret whose versions are all disabled gets a new one',
      [{ name: 'projects/1/secrets/wsfleet-token-secret/versions/1', state: 'DISABLED' }],
      'secrets versions add wsfleet-token-secret',
    ],
    [
      'a secret with an enabled version is left alone',
      [{ state: 'DISABLED' }, { state: 'ENABLED' }],
      undefined,
    ],
  ])('%s', (_, found, command) => {
    const config = configOf();
    const [step] = secretSteps(config, fleetNames(config), { dir: '/nonexistent' }, true);
    const planned = step?.plan(found) ?? [];
    expect(planned.map((c) => c.slice(0, 4).join(' ').replace(/ --.*/, ''))).toEqual(
      command === undefined ? [] : [command],
    );
    for (const c of planned) expect(c.at(-1)).toBe('--data-file=<a new random value, in a 0600 file>');
  });
});
