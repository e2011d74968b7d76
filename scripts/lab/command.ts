/** `wsfleet lab up | down | status | forward`: the whole cluster on this machine. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from '../../daemons/shared/command.ts';
import { parseCommand } from '../../daemons/shared/config.ts';
import { EXIT, WsfleetError } from '../../daemons/shared/errors.ts';
import { buildLocalImage } from '../../images/build/local-build.ts';
import { findCheckout, imagePaths } from '../../images/build/paths.ts';
import { formatElapsed } from '../../images/build/progress.ts';
import { downOptions, forwardOptions, rolloutOptions, statusOptions, upOptions } from './config.ts';
import { labDown } from './down.ts';
import { LabError } from './errors.ts';
import { startForward } from './forward.ts';
import { createLabNetwork } from './net.ts';
import { labPlan } from './plan.ts';
import { labProblems } from './prerequisites.ts';
import { labRollout } from './rollout.ts';
import { labSecretsOf, mintCommand } from './secrets.ts';
import { readState, requireState, STATE_FORMAT, writeState } from './state.ts';
import { formatStatus, labStatus } from './status.ts';
import { upInside } from './up.ts';

/** Set on the part of `up` that runs inside the lab namespace. */
const INSIDE = 'WSFLEET_LAB_INSIDE';
const STARTED = 'WSFLEET_LAB_STARTED_AT';

/** Runs `body`; a WsfleetError becomes one line on stderr and exit 1. */
async function reporting(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof WsfleetError && err.code !== 'WSFLEET_CONFIG_INVALID') {
      process.stderr.write(`wsfleet ${name}: ${err.code}: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
}

function stepper(startedAt: number): (text: string) => void {
  return (text) => process.stdout.write(`[${formatElapsed(Date.now() - startedAt).padStart(5)}] ${text}\n`);
}

/** The role's local image, built when its inputs changed (images/build/local-build.ts). */
async function localImage(
  role: 'app' | 'renewer',
  config: { readonly bundle?: string | undefined; readonly cacheDir?: string | undefined },
  step: (text: string) => void,
): Promise<{ image: string; rootfs: string }> {
  const paths = imagePaths(findCheckout());
  step(`image ${role} (local build, cached by its inputs)`);
  const built = await buildLocalImage(
    {
      role,
      bundle: config.bundle ?? paths.bundle,
      cacheDir: config.cacheDir ?? join(paths.output, 'cache'),
      outputDir: paths.output,
    },
    // The build's own steps only when it builds the base (the long part); else its last line.
    {
      paths,
      write: (text) => {
        if (/mmdebstrap|ready in|error|Last output/i.test(text)) process.stdout.write(`    ${text}`);
      },
    },
  );
  return { image: built.manifest.image, rootfs: built.manifest.rootfs };
}

const UP_SUMMARY = [
  'Bring up the whole cluster on this machine, as it runs on Google Cloud: systemd-nspawn VMs booted',
  'from the local images with the same cloud-init user-data, each in its own network namespace on a',
  'bridge inside a lab namespace; haproxy standing in for the passthrough load balancer; Redis for',
  "Memorystore; Pebble and its DNS for Let's Encrypt and public DNS; the GCS stand-in for the bucket.",
  'Linux and root only. `wsfleet lab down` removes everything it made.',
].join('\n');

export const up: Command = async (argv, env) => {
  const parsed = parseCommand('wsfleet lab up [flags]', UP_SUMMARY, upOptions, argv, env);
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  return reporting('lab up', async () => {
    const bundle = config.bundle ?? process.argv[1] ?? '';
    if (env[INSIDE] === config.lab) {
      const startedAt = Number(env[STARTED]) || Date.now();
      const step = stepper(startedAt);
      const state = await upInside({
        lab: config.lab,
        stateDir: config.stateDir,
        apps: config.apps,
        pollInterval: config.pollInterval,
        redisPersistence: config.redisPersistence,
        trust: config.trust,
        timeoutMs: config.timeout * 1000,
        bundle,
        startedAt,
        step,
      });
      const plan = labPlan(config.lab, state.subnet);
      const secrets = labSecretsOf(config.stateDir, config.lab);
      process.stdout.write(
        [
          '',
          `Lab ${config.lab} is up in ${state.ready?.seconds ?? '?'} s: https://${state.domain}/ on the load balancer ${plan.vip}`,
          '',
          'Reach it from this machine through a port forward (keep it running):',
          `  wsfleet lab forward --lab ${config.lab} --port 8443`,
          `  curl --cacert ${join(config.stateDir, config.lab, 'root.pem')} --resolve ${state.domain}:8443:127.0.0.1 https://${state.domain}:8443/readyz`,
          '',
          "The app VMs read the lab's token secret and API key at boot, as deployed: every connection needs a token.",
          `Mint one (as root): ${mintCommand(secrets)}`,
          `The API key (POST /api/publish, Authorization: Bearer …) is in ${secrets.apiKeyFile}`,
          '',
          `Open the demo page: add "127.0.0.1 ${state.domain}" to /etc/hosts, trust ${join(config.stateDir, config.lab, 'root.pem')}`,
          `(Pebble's root) in the browser, and open https://${state.domain}:8443/?token=TOKEN`,
          `Or from inside the lab: ip netns exec ${plan.netns} curl --cacert ${join(config.stateDir, config.lab, 'root.pem')} --resolve ${state.domain}:443:${plan.vip} https://${state.domain}/readyz`,
          '',
          `State: wsfleet lab status --lab ${config.lab}    Remove: wsfleet lab down --lab ${config.lab}`,
          '',
        ].join('\n'),
      );
      return EXIT.OK;
    }

    const startedAt = Date.now();
    const step = stepper(startedAt);
    const problems = await labProblems();
    if (problems.length > 0)
      throw new LabError(
        'WSFLEET_LAB_PREREQUISITES',
        `the lab cannot run here:\n  - ${problems.join('\n  - ')}`,
      );
    const existing = await readState(config.stateDir, config.lab);
    if (existing !== undefined)
      throw new LabError(
        'WSFLEET_LAB_STATE',
        `lab ${config.lab} is already up (or was not taken down): \`wsfleet lab down --lab ${config.lab}\` first`,
      );
    const images = {
      app: await localImage('app', config, step),
      renewer: await localImage('renewer', config, step),
    };
    const imagesDone = Date.now();
    const plan = labPlan(config.lab, config.subnet);
    step(`network: namespace ${plan.netns}, bridge ${plan.bridge} ${config.subnet}.0/24`);
    await writeState(config.stateDir, {
      format: STATE_FORMAT,
      lab: config.lab,
      subnet: config.subnet,
      domain: config.domain,
      createdAt: new Date().toISOString(),
      services: {},
      machines: [],
      images,
      nextApp: 1,
    });
    await createLabNetwork(plan);
    // The rest runs inside the lab namespace, where the lab's addresses are. nsenter enters the
    // network namespace only: `ip netns exec` would also remount /sys, hiding the cgroup tree
    // that systemd-nspawn needs.
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${plan.netns}`, '--', process.execPath, bundle, 'lab', 'up', ...argv],
      {
        stdio: 'inherit',
        env: { ...env, [INSIDE]: config.lab, [STARTED]: String(imagesDone) },
      },
    );
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? EXIT.FAILURE)));
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (code !== 0)
      process.stderr.write(
        `The lab is left as it is, to look at: wsfleet lab status --lab ${config.lab}; remove it with wsfleet lab down --lab ${config.lab}\n`,
      );
    return code;
  });
};

export const down: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab down [flags]',
    'Remove every machine, process, namespace and file of a lab (also after a failed `up`).',
    downOptions,
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  return reporting('lab down', async () => {
    await labDown(config.stateDir, config.lab, stepper(Date.now()));
    return EXIT.OK;
  });
};

export const status: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab status [flags]',
    "Show a lab's machines, their units and served certificate, its services and the load balancer's view.",
    statusOptions,
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  return reporting('lab status', async () => {
    const s = await labStatus(config.stateDir, await requireState(config.stateDir, config.lab));
    process.stdout.write(config.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
    return EXIT.OK;
  });
};

export const forward: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab forward [flags]',
    "Forward a port of this machine's 127.0.0.1 to the lab's load balancer, until stopped (Ctrl-C).",
    forwardOptions,
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  return reporting('lab forward', async () => {
    const state = await requireState(config.stateDir, config.lab);
    const plan = labPlan(config.lab, state.subnet);
    const f = await startForward({
      netns: plan.netns,
      target: { host: plan.vip, port: config.to },
      sourceAddress: plan.clientAddress(0),
      listen: { host: '127.0.0.1', port: config.port },
      bundle: process.argv[1] ?? '',
    });
    process.stdout.write(
      `127.0.0.1:${f.port} → ${plan.vip}:${config.to} (the load balancer of lab ${config.lab}); Ctrl-C stops\n`,
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await f.close();
    return EXIT.OK;
  });
};

export const rollout: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab rollout [flags]',
    [
      'Rolling update of the app VMs, as the managed group does it: rebuild the app image if its inputs',
      'changed, then for each VM on another image boot a new VM, wait until it serves the certificate',
      'and is healthy, drain the old one (its WebSockets close with 1012) and remove it.',
    ].join('\n'),
    rolloutOptions,
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const { config } = parsed;
  return reporting('lab rollout', async () => {
    const step = stepper(Date.now());
    const state = await requireState(config.stateDir, config.lab);
    const app = await localImage('app', config, step);
    await writeState(config.stateDir, { ...state, images: { ...state.images, app } });
    await labRollout(
      { stateDir: config.stateDir, lab: config.lab, timeoutMs: config.timeout * 1000, step },
      config.all,
    );
    return EXIT.OK;
  });
};
