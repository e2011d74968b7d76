/**
 * The app VMs' right to read the Memorystore AUTH string: `wsfleet app redis-auth` calls
 * `instances.getAuthString` at boot, which needs `redis.instances.getAuthString`. No predefined
 * role holds it without much more (roles/redis.viewer does not have it; roles/redis.editor can
 * change and delete instances), and Memorystore instances have no IAM policy of their own, so the
 * deploy makes a project custom role with that one permission and binds it to the app account
 * alone. (The app gets the instance's CA from the deploy's own `describe`, through its
 * user-data: it needs no `redis.instances.get`.)
 *
 * A custom role's id outlives it: deleted, it can be undeleted for 7 days, and its id cannot be
 * taken again for 37 days. So the teardown keeps the role (granting nothing once its binding
 * is removed), and a deploy that finds it deleted undeletes it rather than create it anew.
 */
import type { FleetConfig } from './fleet-config.ts';
import { deletedForms, hasConditions, isBound } from './iam-members.ts';
import type { FleetNames } from './names.ts';
import type { Step } from './steps.ts';

type Json = Record<string, unknown>;

export const REDIS_AUTH_PERMISSIONS = ['redis.instances.getAuthString'] as const;

/** The custom role's full name, as a binding names it. */
export function redisAuthRole(config: Pick<FleetConfig, 'project'>, names: FleetNames): string {
  return `projects/${config.project}/roles/${names.redisAuthRole}`;
}

/** The custom role, made, undeleted or put right so it holds exactly REDIS_AUTH_PERMISSIONS. */
export function redisAuthRoleStep(config: FleetConfig, names: FleetNames): Step {
  const id = names.redisAuthRole;
  const permissions = `--permissions=${REDIS_AUTH_PERMISSIONS.join(',')}`;
  return {
    title: `custom role ${id} (${REDIS_AUTH_PERMISSIONS.join(', ')}, for the app VMs)`,
    describe: ['iam', 'roles', 'describe', id],
    plan(found) {
      if (found === undefined)
        return [
          [
            'iam',
            'roles',
            'create',
            id,
            `--title=wsfleet ${config.name}: Redis AUTH string`,
            `--description=Lets the app VMs of fleet ${config.name} read the AUTH string of its Memorystore instance`,
            permissions,
            '--stage=GA',
          ],
        ];
      const role = found as Json;
      const held = Array.isArray(role.includedPermissions) ? role.includedPermissions.map(String) : [];
      const same =
        held.length === REDIS_AUTH_PERMISSIONS.length &&
        REDIS_AUTH_PERMISSIONS.every((p) => held.includes(p));
      return [
        ...(role.deleted === true ? [['iam', 'roles', 'undelete', id]] : []),
        ...(same ? [] : [['iam', 'roles', 'update', id, permissions]]),
      ];
    },
  };
}

/**
 * The project binding of the custom role to the app account (added by the deploy, removed by
 * the teardown before the account is deleted); a binding left to a deleted account of the same
 * email is removed either way.
 */
export function redisAuthBindingStep(
  config: FleetConfig,
  names: FleetNames,
  mode: 'add' | 'remove' = 'add',
): Step {
  const role = redisAuthRole(config, names);
  const member = `serviceAccount:${names.serviceAccountEmail.app}`;
  return {
    title: `${role} on project ${config.project} for ${names.serviceAccountEmail.app}`,
    describe: ['projects', 'get-iam-policy', config.project],
    // Undefined (a dry run's empty project): a policy without the binding.
    plan(found) {
      const condition = hasConditions(found) ? ['--condition=None'] : [];
      const binding = (verb: string, who: string) => [
        'projects',
        verb,
        config.project,
        `--member=${who}`,
        `--role=${role}`,
        ...condition,
      ];
      const stale = deletedForms(found, role, member).map((who) => binding('remove-iam-policy-binding', who));
      const bound = isBound(found, role, member);
      if (mode === 'remove')
        return [...(bound ? [binding('remove-iam-policy-binding', member)] : []), ...stale];
      return [...(bound ? [] : [binding('add-iam-policy-binding', member)]), ...stale];
    },
  };
}
