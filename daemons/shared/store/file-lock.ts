/**
 * A write lock shared by every process on one machine: a lock file that is created whole or not
 * at all (written under a temporary name, then hard-linked into place, which fails if it exists).
 * It holds the owner's host, pid and a random token. A lock whose owner process is gone (same
 * host), or that is older than `staleMs`, is broken — inside a second, very short-lived lock
 * (`<path>.break`) and only if it still holds the token that was judged stale, so two processes
 * breaking it at once never remove a lock that a third has just taken. Waiting is bounded.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FileLockOptions {
  /** How long to wait for the lock before giving up. */
  readonly timeoutMs: number;
  /** A lock older than this is abandoned even if a process with its pid exists (pid reuse). */
  readonly staleMs: number;
}

/** The lock could not be taken in time; `holder` is the lock file's text when it was last read. */
export class LockBusyError extends Error {
  readonly holder: string | undefined;
  constructor(path: string, timeoutMs: number, holder: string | undefined) {
    super(`lock ${path} still held after ${timeoutMs} ms${holder === undefined ? '' : ` by ${holder}`}`);
    this.name = 'LockBusyError';
    this.holder = holder;
  }
}

// A break takes microseconds; a `.break` file this old was left by a process that died in it.
const BREAK_STALE_MS = 2_000;
const MAX_POLL_MS = 50;

const host = hostname();

/** Creates `path` holding `text`, atomically; false if it exists. */
async function createWhole(path: string, text: string): Promise<boolean> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function ageMs(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function ownerGone(text: string): boolean {
  try {
    const owner = JSON.parse(text) as { host?: unknown; pid?: unknown };
    return owner.host === host && typeof owner.pid === 'number' && processGone(owner.pid);
  } catch {
    return false;
  }
}

/** Removes the lock at `path` if it still reads `seen`, serialized with other breakers. */
async function breakLock(path: string, seen: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await createWhole(breaker, `${process.pid}`))) {
    const age = await ageMs(breaker);
    if (age !== undefined && age > BREAK_STALE_MS) await rm(breaker, { force: true });
    return;
  }
  try {
    if ((await readText(path)) === seen) await rm(path, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

/** Takes the lock, waiting at most `timeoutMs`; resolves the token that proves ownership. */
async function acquire(path: string, { timeoutMs, staleMs }: FileLockOptions): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let pollMs = 2;
  let seen: string | undefined;
  for (;;) {
    const token = randomBytes(12).toString('base64url');
    const text = JSON.stringify({ host, pid: process.pid, token, at: new Date().toISOString() });
    if (await createWhole(path, text)) return token;
    seen = await readText(path);
    if (seen === undefined) continue;
    const age = await ageMs(path);
    if (ownerGone(seen) || (age !== undefined && age > staleMs)) {
      await breakLock(path, seen);
      continue;
    }
    if (Date.now() >= deadline) throw new LockBusyError(path, timeoutMs, seen);
    // Jitter so that processes polling together do not retry in lockstep.
    await sleep(pollMs * (0.5 + Math.random()));
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
  }
}

async function release(path: string, token: string): Promise<void> {
  const text = await readText(path);
  if (text === undefined) return;
  try {
    if ((JSON.parse(text) as { token?: unknown }).token !== token) return;
  } catch {
    return;
  }
  await rm(path, { force: true });
}

/** Runs `fn` holding the lock at `path`; the lock is released however `fn` ends. */
export async function withFileLock<T>(
  path: string,
  options: FileLockOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const token = await acquire(path, options);
  try {
    return await fn();
  } finally {
    await release(path, token);
  }
}
