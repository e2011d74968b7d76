/**
 * What the file store adds to the store contract (store-contract.test.ts): private file modes,
 * generations that hold between processes of one machine, recovery from a lock left behind by a
 * dead process, and the file system's own limits reported as such.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileStore } from '../../daemons/shared/store/file-store.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const storeModule = fileURLToPath(new URL('../../daemons/shared/store/file-store.ts', import.meta.url));

/** A child process that increments a counter object `rounds` times with compare-and-swap. */
const INCREMENTER = `
const { createFileStore } = await import(process.env.STORE_MODULE);
const store = createFileStore(process.env.STORE_ROOT);
const rounds = Number(process.env.ROUNDS);
await new Promise((r) => setTimeout(r, Math.max(0, Number(process.env.START_AT) - Date.now())));
const wins = [];
let lost = 0;
while (wins.length < rounds) {
  const current = await store.get('counter');
  const next = String(Number(current?.data.toString() ?? '0') + 1);
  try {
    const meta = await store.put('counter', Buffer.from(next), { ifGenerationMatch: current?.generation ?? '0' });
    wins.push(meta.generation);
  } catch (err) {
    if (err.code !== 'WSFLEET_STORE_PRECONDITION') throw err;
    lost++;
  }
}
process.stdout.write(JSON.stringify({ wins, lost }));
`;

/** A child process that reads `a/k` once and prints the error code and key it got. */
const READ_ONCE = `
const { createFileStore } = await import(process.env.STORE_MODULE);
const err = await createFileStore(process.env.STORE_ROOT).get('a/k').then(() => undefined, (e) => e);
process.stdout.write(String(err?.code) + ' ' + String(err?.key));
`;

interface Outcome {
  readonly wins: string[];
  readonly lost: number;
}

/**
 * Runs module `code` in a child Node with tsx, or as the user nobody (who may not read this
 * checkout, so then without tsx, from the base folder, with STORE_MODULE pre-bundled); resolves
 * its stdout.
 */
function runModule(
  code: string,
  env: Record<string, string>,
  children: ChildProcess[],
  { timeoutMs, asNobody = false }: { timeoutMs: number; asNobody?: boolean },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const loader = asNobody ? [] : ['--import', 'tsx'];
    const child = spawn(process.execPath, [...loader, '--input-type=module', '-e', code], {
      cwd: asNobody ? (env.STORE_ROOT ?? repo) : repo,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asNobody ? { uid: 65534, gid: 65534 } : {}),
    });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      if (status === 0) resolve(out);
      else reject(new Error(`child exited ${status ?? signal}: ${err.slice(-2000)}`));
    });
  });
}

/** The pid of a process that has just exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
  });
}

describe('file store', () => {
  let base: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'wsfleet-file-store-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(base, { recursive: true, force: true });
  });

  it('creates its folders 0700 and its files 0600', async () => {
    const root = join(base, 'store');
    const store = createFileStore(root);
    await store.put('certs/example.com/versions/v1.json', Buffer.from('{}'));
    await store.put('locks/example.com', Buffer.from('{}'));

    const modes = async (path: string) => (await stat(path)).mode & 0o777;
    expect(await modes(root)).toBe(0o700);
    expect(await modes(join(root, 'certs', 'example.com', 'versions'))).toBe(0o700);
    expect(await modes(join(root, 'certs', 'example.com', 'versions', 'v1.json'))).toBe(0o600);
    expect(await modes(join(root, 'locks', 'example.com'))).toBe(0o600);
    expect(await readdir(root)).not.toContain(expect.stringMatching(/\.tmp$/));
  });

  it('never lets two processes win the same precondition', async () => {
    const root = join(base, 'store');
    const processes = 3;
    const rounds = 15;
    const env = {
      STORE_MODULE: storeModule,
      STORE_ROOT: root,
      ROUNDS: String(rounds),
      // Every child waits for this moment, so their loops overlap.
      START_AT: String(Date.now() + 2_500),
    };
    const outcomes = await Promise.all(
      Array.from({ length: processes }, async () => {
        const out = await runModule(INCREMENTER, env, children, { timeoutMs: 25_000 });
        return JSON.parse(out) as Outcome;
      }),
    );

    const wins = outcomes.flatMap((o) => o.wins);
    const counter = await createFileStore(root).get('counter');
    expect(counter?.data.toString()).toBe(String(processes * rounds));
    expect(new Set(wins).size).toBe(processes * rounds);
    expect(counter?.generation).toBe([...wins].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)).at(-1));
  }, 30_000);

  it('breaks a write lock left behind by a process that is gone', async () => {
    const root = join(base, 'store');
    await mkdir(root, { mode: 0o700 });
    const pid = await deadPid();
    await writeFile(
      join(root, '.wsfleet-lock'),
      JSON.stringify({ host: hostname(), pid, token: 'left-behind' }),
    );
    const store = createFileStore(root, { lockTimeoutMs: 1_000 });

    const started = Date.now();
    await store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await readdir(root)).not.toContain('.wsfleet-lock');
  });

  it('gives up with WSFLEET_STORE_UNAVAILABLE while a live process holds the lock', async () => {
    const root = join(base, 'store');
    await mkdir(root, { mode: 0o700 });
    await writeFile(
      join(root, '.wsfleet-lock'),
      JSON.stringify({ host: hostname(), pid: process.pid, token: 'held' }),
    );
    const store = createFileStore(root, { lockTimeoutMs: 300 });

    const started = Date.now();
    await expect(store.put('k', Buffer.from('v'))).rejects.toMatchObject({
      code: 'WSFLEET_STORE_UNAVAILABLE',
      key: 'k',
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await store.get('k')).toBeUndefined();
  });

  it('takes a lock older than staleLockMs as abandoned', async () => {
    const root = join(base, 'store');
    await mkdir(root, { mode: 0o700 });
    await writeFile(
      join(root, '.wsfleet-lock'),
      JSON.stringify({ host: 'another-host', pid: 1, token: 'old' }),
    );
    const store = createFileStore(root, { lockTimeoutMs: 2_000, staleLockMs: 200 });
    await new Promise((r) => setTimeout(r, 250));
    expect((await store.put('k', Buffer.from('v'))).key).toBe('k');
  });

  it('refuses a key that is also the folder of other keys, and the other way round', async () => {
    const store = createFileStore(join(base, 'store'));
    await store.put('a/b', Buffer.from('1'));
    await store.put('c', Buffer.from('2'));
    const invalid = { code: 'WSFLEET_STORE_INVALID' };
    await expect(store.put('a', Buffer.from('x'))).rejects.toMatchObject({ ...invalid, key: 'a' });
    await expect(store.put('c/d', Buffer.from('x'))).rejects.toMatchObject({ ...invalid, key: 'c/d' });
    expect(await store.get('a')).toBeUndefined();

    await store.delete('a/b');
    await store.put('a', Buffer.from('now a key'));
    expect((await store.get('a'))?.data.toString()).toBe('now a key');
  });

  it('reports a file it did not write as WSFLEET_STORE_CORRUPT and reads on', async () => {
    const root = join(base, 'store');
    const store = createFileStore(root);
    await store.put('ok', Buffer.from('fine'));
    await writeFile(join(root, 'stray'), 'hello');

    await expect(store.get('stray')).rejects.toMatchObject({ code: 'WSFLEET_STORE_CORRUPT', key: 'stray' });
    await expect(store.stat('stray')).rejects.toMatchObject({ code: 'WSFLEET_STORE_CORRUPT', key: 'stray' });
    expect((await store.get('ok'))?.data.toString()).toBe('fine');
  });

  it('reports a folder it may not enter as WSFLEET_STORE_DENIED', async () => {
    const root = join(base, 'store');
    const store = createFileStore(root);
    await store.put('a/k', Buffer.from('v'));
    if (process.getuid?.() !== 0) {
      await chmod(join(root, 'a'), 0o000);
      try {
        await expect(store.get('a/k')).rejects.toMatchObject({ code: 'WSFLEET_STORE_DENIED', key: 'a/k' });
      } finally {
        await chmod(join(root, 'a'), 0o700);
      }
      return;
    }
    // Root enters every folder, so the read runs in a child as nobody; only `a` (0700) is closed.
    await chmod(base, 0o755);
    await chmod(root, 0o755);
    const bundled = join(base, 'file-store.mjs');
    await build({
      entryPoints: [storeModule],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundled,
      logLevel: 'silent',
    });
    await chmod(bundled, 0o644);
    const code = await runModule(READ_ONCE, { STORE_MODULE: bundled, STORE_ROOT: root }, children, {
      timeoutMs: 15_000,
      asNobody: true,
    });
    expect(code).toBe('WSFLEET_STORE_DENIED a/k');
  });

  it('refuses a relative root with WSFLEET_STORE_URL', () => {
    expect(() => createFileStore('relative/store')).toThrow(
      expect.objectContaining({ code: 'WSFLEET_STORE_URL' }),
    );
  });
});
