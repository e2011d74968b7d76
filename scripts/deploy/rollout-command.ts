/**
 * `wsfleet rollout`: new images → new instance templates → a rolling update of each group. The
 * app group replaces its VMs proactively within its surge and unavailable limits; a leaving VM is
 * drained by the load balancer (connection draining) while its app closes WebSockets with 1012
 * (service restart), so clients reconnect to the VMs that stay. The renewer is recreated in place.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from '../../daemons/shared/command.ts';
import { EXIT } from '../../daemons/shared/errors.ts';
import { type Rollout, rolloutOf } from './checks.ts';
import { type Io, openFleet, processIo, reportFailures } from './command-io.ts';
import { rolloutOptions } from './deploy-options.ts';
import { type Facts, redisStep, renewerHealthCheckStep, templates } from './deploy-plan.ts';
import { DeployError, FleetConfigError } from './errors.ts';
import type { FleetConfig } from './fleet-config.ts';
import type { Argv, Gcloud } from './gcloud.ts';
import { resolveImages } from './images.ts';
import type { FleetNames } from './names.ts';
import {
  currentTemplate,
  type GroupRef,
  groupCommand,
  groupRefs,
  healingUpdate,
  RENEWER_ROLLOUT,
  startUpdate,
} from './plan-groups.ts';
import type { UserDataFiles } from './plan-templates.ts';
import type { Progress } from './progress.ts';
import { type RotationMode, replaceAppStep, rotationNote, rotationSteps } from './rotation.ts';
import { applySteps, type PlanItem, type Step } from './steps.ts';

const USAGE =
  'wsfleet rollout [--config wsfleet.yaml] [--app-image NAME] [--renewer-image NAME] [--rotate-secrets | --finish-rotation] [flags]';
const SUMMARY = [
  'Roll the groups to new images: create the instance templates that pin them, then start a',
  'rolling update of the renewer and the app group, and wait until both are stable. Groups that',
  'already run the images are left alone. --rotate-secrets and --finish-rotation rotate the',
  "fleet's secrets instead (README: rotating the secrets).",
].join('\n');

function missing(what: string): DeployError {
  return new DeployError('WSFLEET_DEPLOY_MISSING', `${what} does not exist: run \`wsfleet deploy\` first`);
}

function updateStep(
  config: FleetConfig,
  group: GroupRef,
  template: string,
  rollout: Rollout,
  healthCheck?: string,
): Step {
  return {
    title: `rolling update of ${group.name} to ${template}`,
    describe: groupCommand(['describe'], group),
    plan(found) {
      if (found === undefined) throw missing(`group ${group.name}`);
      const g = found as Record<string, unknown>;
      return [
        ...(currentTemplate(g) === template ? [] : [startUpdate(config, group, template, rollout)]),
        ...(healthCheck === undefined ? [] : healingUpdate(config, group, g, healthCheck)),
      ];
    },
  };
}

/** A step that only reads: what it names must exist already. */
function mustExist(step: Step, what: string): Step {
  return {
    ...step,
    plan(found) {
      if (found === undefined) throw missing(what);
      return [];
    },
  };
}

function waitStable(group: GroupRef, timeoutSeconds: number): Argv {
  return groupCommand(['wait-until'], group, '--stable', `--timeout=${timeoutSeconds}`);
}

async function waitForGroups(
  gcloud: Gcloud,
  progress: Progress,
  groups: readonly GroupRef[],
  timeout: number,
) {
  for (const group of groups) {
    progress.step(`waiting for ${group.name} to be stable (at most ${timeout} s)…`);
    try {
      await gcloud.run(waitStable(group, timeout));
    } catch (err) {
      if (!(err instanceof DeployError) || err.code !== 'WSFLEET_GCLOUD_FAILED') throw err;
      throw new DeployError(
        'WSFLEET_DEPLOY_WAIT_TIMEOUT',
        `${group.name} is not stable after ${timeout} s (the update goes on; see \`wsfleet status\`): ${err.message}`,
        { cause: err },
      );
    }
  }
}

/** `--rotate-secrets` or `--finish-rotation` (rotation.ts). */
async function rotate(
  fleet: { config: FleetConfig; names: FleetNames; gcloud: Gcloud; progress: Progress },
  mode: RotationMode,
  flags: { maxTokenTtl: number; noWait: boolean; waitTimeout: number },
  files: UserDataFiles,
): Promise<number> {
  const { config, names, gcloud, progress } = fleet;
  const group = groupRefs(config, names).app;
  const rollout = rolloutOf(config);
  const replace = groupCommand(
    ['rolling-action', 'replace'],
    group,
    `--max-surge=${rollout.maxSurge}`,
    `--max-unavailable=${rollout.maxUnavailable}`,
    `--replacement-method=${rollout.replacement}`,
  );
  const steps = [
    ...rotationSteps(config, files, { mode, maxTokenTtl: flags.maxTokenTtl, nowMs: Date.now() }),
    replaceAppStep(replace, groupCommand(['describe'], group), group.name),
  ];
  progress.step(
    mode === 'rotate' ? 'rotating the fleet secrets' : 'finishing the rotation of the fleet secrets',
  );
  await applySteps(steps, gcloud, progress);
  if (flags.noWait) progress.step('replacement started (not waiting: see `wsfleet status`)');
  else await waitForGroups(gcloud, progress, [group], flags.waitTimeout);
  progress.step(rotationNote(config, names, mode, flags.maxTokenTtl));
  return EXIT.OK;
}

export async function rollout(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
): Promise<number> {
  const fleet = await openFleet(USAGE, SUMMARY, rolloutOptions, argv, env, io);
  if (fleet === undefined) return EXIT.OK;
  const { flags, config, names, gcloud, progress } = fleet;
  if (flags.rotateSecrets && flags.finishRotation)
    throw new FleetConfigError(['--rotate-secrets and --finish-rotation are two runs: pass one of them']);
  const files = { dir: await mkdtemp(join(tmpdir(), 'wsfleet-rollout-')) };
  try {
    if (flags.rotateSecrets || flags.finishRotation)
      return await reportFailures('rollout', io, () =>
        rotate(fleet, flags.rotateSecrets ? 'rotate' : 'finish', flags, files),
      );
    const images = await resolveImages(config, flags);
    return await reportFailures('rollout', io, async () => {
      const facts: Facts = { dryRun: false };
      const t = templates(config, names, images, facts, files);
      const groups = groupRefs(config, names);
      const redis = redisStep(config, names, facts);
      let appTemplate = '';
      const steps: PlanItem[] = [
        // The app's user-data names Redis: read its address (it is not created here).
        ...(redis === undefined ? [] : [mustExist(redis, `Redis instance ${names.redis}`)]),
        // A fleet deployed before the renewer had /livez gets the check and its autohealing on it.
        renewerHealthCheckStep(config, names),
        t.renewer.step,
        updateStep(config, groups.renewer, t.renewer.name, RENEWER_ROLLOUT, names.healthCheck.renewer),
        () => {
          const template = t.app();
          appTemplate = template.name;
          return template.step;
        },
        () => updateStep(config, groups.app, appTemplate, rolloutOf(config)),
      ];
      progress.step(`rolling out app image ${images.app} and renewer image ${images.renewer}`);
      const summary = await applySteps(steps, gcloud, progress);
      if (summary.changed === 0) {
        progress.step('nothing to roll out: both groups already run these images');
        return EXIT.OK;
      }
      if (flags.noWait) {
        progress.step('rolling updates started (not waiting: see `wsfleet status`)');
        return EXIT.OK;
      }
      await waitForGroups(gcloud, progress, [groups.renewer, groups.app], flags.waitTimeout);
      progress.step('rolled out: both groups are stable on the new templates');
      return EXIT.OK;
    });
  } finally {
    await rm(files.dir, { recursive: true, force: true });
  }
}

export const run: Command = (argv, env) => rollout(argv, env);
