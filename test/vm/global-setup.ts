/**
 * Builds the bundle, then brings the test lab up once for every VM scenario (the images come
 * from the local build cache, built first when their inputs changed) and takes it down at the
 * end, also when `up` failed half way.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { build } from '../../scripts/build.ts';
import { BUNDLE } from '../helpers/app.ts';
import { failRunOnLeftovers, guardRun } from '../helpers/leftovers.ts';
import { LAB, LAB_ARGS, STATE_DIR } from './lab.ts';

/** A first run builds both images (two mmdebstrap runs); then `up` takes about a minute. */
const UP_TIMEOUT_MS = 900_000;

function cli(args: readonly string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += String(c)));
    child.stderr.on('data', (c: Buffer) => (output += String(c)));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  await build();
  const guard = await guardRun('vm');
  const down = async () => {
    const result = await cli(['lab', 'down', '--lab', LAB], 120_000);
    if (result.code !== 0) throw new Error(`lab down failed:\n${result.output}`);
    // Nothing of the lab may be left: no namespace, no machine, no service in its namespaces.
    const netns = await execa('ip', ['netns', 'list']);
    const left = netns.stdout.split('\n').filter((l) => l.startsWith(`wsfleet-${LAB}`));
    const machines = await execa('pgrep', ['-f', '--', `--machine=wsfleet-${LAB}-`], { reject: false });
    const state = existsSync(join(STATE_DIR, LAB)) ? [join(STATE_DIR, LAB)] : [];
    if (left.length > 0 || machines.stdout.trim() !== '' || state.length > 0)
      throw new Error(
        `lab down left ${[
          ...left,
          ...machines.stdout
            .trim()
            .split('\n')
            .filter((l) => l !== ''),
          ...state,
        ].join(', ')}`,
      );
  };
  await down();
  const up = await cli(['lab', 'up', ...LAB_ARGS], UP_TIMEOUT_MS);
  process.stdout.write(up.output);
  if (up.code !== 0) {
    await down().catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
    failRunOnLeftovers('The VM test run', await guard.finish());
    throw new Error(`lab up failed (exit ${up.code}):\n${up.output}`);
  }
  return async () => {
    // vitest ignores an error thrown here: say what is wrong and fail the run through the exit code.
    const problems: string[] = [];
    await down().catch((err: unknown) => problems.push(String(err)));
    problems.push(...(await guard.finish()));
    failRunOnLeftovers('The VM test run', problems);
  };
}
