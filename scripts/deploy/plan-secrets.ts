/**
 * The fleet's secrets: the app's token secret (HMAC of connection tokens) and its API key (bearer
 * key of POST /api/publish), one Secret Manager secret each. The deploy makes each value once,
 * from 32 random bytes, and hands it to gcloud in a 0600 file of its own temporary folder: never
 * on a command line, in the config, in metadata, in a template or in a log. Only the app VMs'
 * account may read them, each secret on its own (roles/secretmanager.secretAccessor on the
 * secret, never on the project); the app VM fetches them at boot, and `wsfleet app token
 * --token-secret-from gcp:PROJECT/SECRET` reads the token secret through gcloud.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetConfig } from './fleet-config.ts';
import { deletedForms, isBound } from './iam-members.ts';
import type { FleetNames } from './names.ts';
import type { UserDataFiles } from './plan-templates.ts';
import { secretIdsOf } from './secret-ids.ts';
import type { Step } from './steps.ts';

type Json = Record<string, unknown>;

export const SECRET_ACCESSOR = 'roles/secretmanager.secretAccessor';

/** A dry run's stand-in for the file that holds a new secret's value. */
export const NEW_VALUE = '<a new random value, in a 0600 file>';

export { type FleetSecrets, secretIdsOf } from './secret-ids.ts';

/** A new secret value: 32 random bytes, base64url (43 characters). */
export function newSecretValue(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes a new value to a 0600 file of `files.dir` and returns its path. */
export function newValueFile(files: UserDataFiles, id: string): string {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const path = join(files.dir, `${id}.secret`);
  writeFileSync(path, newSecretValue(), { mode: 0o600, flag: 'w' });
  return path;
}

/**
 * The IAM binding of `member` on one secret alone; a binding left to a deleted account of the
 * same email (`deleted:serviceAccount:…`, by a teardown of an older version) is removed either way.
 */
export function secretBindingStep(id: string, member: string, mode: 'add' | 'remove' = 'add'): Step {
  return {
    title: `${SECRET_ACCESSOR} on secret ${id} for ${member.replace(/^serviceAccount:/, '')}`,
    describe: ['secrets', 'get-iam-policy', id],
    plan(found) {
      const binding = (verb: string, who: string) => [
        'secrets',
        verb,
        id,
        `--member=${who}`,
        `--role=${SECRET_ACCESSOR}`,
      ];
      const stale = deletedForms(found, SECRET_ACCESSOR, member).map((who) =>
        binding('remove-iam-policy-binding', who),
      );
      const has = isBound(found, SECRET_ACCESSOR, member);
      if (has === (mode === 'add')) return stale;
      return [
        binding(mode === 'add' ? 'add-iam-policy-binding' : 'remove-iam-policy-binding', member),
        ...stale,
      ];
    },
  };
}

/** Whether a version list (`gcloud secrets versions list`) holds an enabled version. */
export function hasEnabledVersion(versions: unknown): boolean {
  return Array.isArray(versions) && versions.some((v) => (v as Json | null)?.state === 'ENABLED');
}

/**
 * Each secret, made with its first value when missing, given a new value when it has no enabled
 * version (a deploy interrupted between `secrets create` and its first version, or versions
 * disabled by hand: the app VMs could not start), then readable by the app account only.
 */
export function secretSteps(
  config: FleetConfig,
  names: FleetNames,
  files: UserDataFiles,
  dryRun: boolean,
): Step[] {
  const ids = secretIdsOf(config);
  const app = `serviceAccount:${names.serviceAccountEmail.app}`;
  const what = { tokenSecret: 'the token secret', apiKey: 'the API key' } as const;
  return (['tokenSecret', 'apiKey'] as const).flatMap((key) => {
    const id = ids[key];
    // The value is made only when one is to be stored: never printed, never reused.
    const valueFile = () => `--data-file=${dryRun ? NEW_VALUE : newValueFile(files, id)}`;
    return [
      {
        title: `secret ${id} (${what[key]})`,
        // Its versions: a missing secret is NOT_FOUND (undefined), one without versions [].
        describe: ['secrets', 'versions', 'list', id],
        plan: (found: unknown) => {
          if (found === undefined)
            return [
              [
                'secrets',
                'create',
                id,
                '--replication-policy=automatic',
                `--labels=wsfleet=${config.name}`,
                valueFile(),
              ],
            ];
          return hasEnabledVersion(found) ? [] : [['secrets', 'versions', 'add', id, valueFile()]];
        },
      },
      secretBindingStep(id, app),
    ];
  });
}
