/**
 * Builds the bundle, then brings the test lab up once for every VM scenario (the images come
 * from the local build cache, built first when their inputs changed) and takes it down at the
 * end, also when `up` failed half way.
 */
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { build } from '../../scripts/build.ts';
import { BUNDLE } from '../helpers/app.ts';
import { LAB, LAB_ARGS } from './lab.ts';

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
  const down = async () => {
    const result = await cli(['lab', 'down', '--lab', LAB], 120_000);
    if (result.code !== 0) throw new Error(`lab down failed:\n${result.output}`);
    // Nothing of the lab may be left: no namespace, no machine, no service in its namespaces.
    const netns = await execa('ip', ['netns', 'list']);
    const left = netns.stdout.split('\n').filter((l) => l.startsWith(`wsfleet-${LAB}`));
    const machines = await execa('pgrep', ['-f', '--', `--machine=wsfleet-${LAB}-`], { reject: false });
    if (left.length > 0 || machines.stdout.trim() !== '')
      throw new Error(`lab down left ${[...left, ...machines.stdout.trim().split('\n')].join(', ')}`);
  };
  await down();
  const up = await cli(['lab', 'up', ...LAB_ARGS], UP_TIMEOUT_MS);
  process.stdout.write(up.output);
  if (up.code !== 0) {
    await down();
    throw new Error(`lab up failed (exit ${up.code}):\n${up.output}`);
  }
  return down;
}
