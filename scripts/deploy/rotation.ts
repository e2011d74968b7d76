/**
 * Rotating the fleet's secrets without downtime, in two runs of `wsfleet rollout`:
 *
 * 1. `--rotate-secrets` adds a new version to each secret (a fresh value, as the deploy makes
 *    one) and replaces the app VMs, rolling, within the group's surge and unavailable limits.
 *    Each new VM's boot reads the latest version and the still enabled one before it
 *    (`wsfleet app fetch-secrets`), so the app takes tokens and API keys of both: tokens minted
 *    before the rotation stay good, and backends move to the new key at their pace.
 * 2. `--finish-rotation`, once every token signed with the previous secret has expired (at most
 *    `--max-token-ttl` after the new version was made; refused before), disables the previous
 *    versions and replaces the app VMs again, which then take the new values alone.
 *
 * One rotation at a time: a second `--rotate-secrets` while two versions are enabled adds none
 * (it continues the one under way). Each run replaces the VMs, so a run cut short is finished by
 * running it again.
 */

import { LEEWAY_SECONDS } from '../../daemons/app/token.ts';
import { DeployError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { FleetNames } from './names.ts';
import { newValueFile, secretIdsOf } from './plan-secrets.ts';
import type { UserDataFiles } from './plan-templates.ts';
import type { Step } from './steps.ts';

type Json = Record<string, unknown>;

export type RotationMode = 'rotate' | 'finish';

interface Version {
  readonly number: number;
  readonly createTime: number;
}

/** The enabled versions of a `gcloud secrets versions list`, newest first. */
export function enabledVersions(found: unknown): Version[] {
  const listed = Array.isArray(found) ? (found as Json[]) : [];
  return listed
    .filter((v) => v?.state === 'ENABLED')
    .map((v) => ({
      number: Number(/\/versions\/(\d+)$/.exec(String(v.name ?? ''))?.[1] ?? Number.NaN),
      createTime: Date.parse(String(v.createTime ?? '')),
    }))
    .filter((v) => Number.isInteger(v.number))
    .sort((a, b) => b.number - a.number);
}

export interface RotationOptions {
  readonly mode: RotationMode;
  /** Seconds the longest token minted from the token secret lives (the finish waits them out). */
  readonly maxTokenTtl: number;
  readonly nowMs: number;
}

/** One step per secret: a new version (rotate), or the previous ones disabled (finish). */
export function rotationSteps(
  config: FleetConfig,
  files: UserDataFiles,
  { mode, maxTokenTtl, nowMs }: RotationOptions,
): Step[] {
  const ids = secretIdsOf(config);
  return (['tokenSecret', 'apiKey'] as const).map((key) => {
    const id = ids[key];
    return {
      title: `secret ${id}: ${mode === 'rotate' ? 'a new version' : 'the previous version disabled'}`,
      describe: ['secrets', 'versions', 'list', id],
      plan(found) {
        if (found === undefined)
          throw new DeployError(
            'WSFLEET_DEPLOY_MISSING',
            `secret ${id} does not exist: run \`wsfleet deploy\` first`,
          );
        const enabled = enabledVersions(found);
        if (mode === 'rotate')
          return enabled.length >= 2
            ? []
            : [['secrets', 'versions', 'add', id, `--data-file=${newValueFile(files, id)}`]];
        const [newest, ...older] = enabled;
        if (newest === undefined || older.length === 0) return [];
        // A token minted just before the new version was made lives at most maxTokenTtl (and the
        // nodes' clock leeway) after it.
        const safeAt = newest.createTime + (maxTokenTtl + LEEWAY_SECONDS) * 1000;
        if (key === 'tokenSecret' && !(safeAt <= nowMs))
          throw new DeployError(
            'WSFLEET_ROTATION_TOO_EARLY',
            `tokens signed with the previous token secret may be valid until ${Number.isNaN(safeAt) ? 'an unknown time (the new version has no creation time)' : new Date(safeAt).toISOString()} (version ${newest.number} made then, --max-token-ttl ${maxTokenTtl} s): run \`wsfleet rollout --finish-rotation\` after that; nothing was changed`,
          );
        return older.map((v) => ['secrets', 'versions', 'disable', String(v.number), `--secret=${id}`]);
      },
    };
  });
}

/** A rolling replace of the app VMs: each new VM reads the secrets at boot. */
export function replaceAppStep(replace: readonly string[], describe: readonly string[], group: string): Step {
  return {
    title: `rolling replace of ${group} (each new VM reads the secrets at boot)`,
    describe,
    plan(found) {
      if (found === undefined)
        throw new DeployError(
          'WSFLEET_DEPLOY_MISSING',
          `group ${group} does not exist: run \`wsfleet deploy\` first`,
        );
      return [replace];
    },
  };
}

export function rotationNote(
  config: FleetConfig,
  names: FleetNames,
  mode: RotationMode,
  maxTokenTtl: number,
): string {
  const ids = secretIdsOf(config);
  if (mode === 'finish')
    return `rotation finished: only the newest versions of ${ids.tokenSecret} and ${ids.apiKey} are enabled, and the app VMs take them alone`;
  return [
    `rotation under way: the app VMs take the new and the previous ${ids.tokenSecret} and ${ids.apiKey}.`,
    `  Mint tokens from the new secret (\`wsfleet app token --token-secret-from gcp:${config.project}/${ids.tokenSecret}\` reads the latest),`,
    `  move backends to the new API key (\`gcloud secrets versions access latest --secret=${ids.apiKey} --project=${config.project}\`),`,
    `  and after ${maxTokenTtl} s (--max-token-ttl: tokens minted before now have expired by then) run \`wsfleet rollout --finish-rotation\`.`,
    `  (app group: ${names.group.app})`,
  ].join('\n');
}
