import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { guardRun, markedProcesses, RUN_MARKER } from '../helpers/leftovers.ts';

describe('guardRun', () => {
  const saved = {
    tmp: process.env.TMPDIR,
    marker: process.env[RUN_MARKER],
    tsx: process.env.TSX_DISABLE_CACHE,
  };
  afterEach(() => {
    for (const [key, value] of [
      ['TMPDIR', saved.tmp],
      [RUN_MARKER, saved.marker],
      ['TSX_DISABLE_CACHE', saved.tsx],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('lists the files and processes a run leaves, then removes them', async () => {
    const guard = await guardRun('unit');
    expect(process.env.TMPDIR).toBe(guard.tmp);
    // Like /tmp: open to the other users tests run children as, sticky.
    expect((await stat(guard.tmp)).mode & 0o7777).toBe(0o1777);
    await mkdir(join(guard.tmp, 'wsfleet-deploy-x'));
    await writeFile(join(guard.tmp, 'wsfleet-deploy-x', 'user-data'), '#cloud-config\n');
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const marker = process.env[RUN_MARKER] ?? '';
    expect((await markedProcesses(RUN_MARKER, marker)).has(child.pid ?? -1)).toBe(true);

    const problems = await guard.finish(300);
    expect(problems).toContain(`temporary file ${join(guard.tmp, 'wsfleet-deploy-x/')}`);
    expect(problems.some((p) => p.startsWith(`process ${child.pid}: sleep 60`))).toBe(true);
    await exited;
    expect(existsSync(guard.tmp)).toBe(false);
  });

  it('finds nothing when the run cleaned up after itself', async () => {
    const guard = await guardRun('unit');
    const child = spawn('true', [], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await guard.finish()).toEqual([]);
  });

  it('does not count a process started without the marker', async () => {
    const guard = await guardRun('unit');
    const { [RUN_MARKER]: _marker, ...env } = process.env;
    const child = spawn('sleep', ['60'], { stdio: 'ignore', env });
    try {
      expect(await guard.finish()).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
