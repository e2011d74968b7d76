/**
 * A real redis-server for integration tests: 127.0.0.1 on a free port, its files in a temp dir,
 * AOF with fsync every second by default (as production runs it) and no RDB snapshots.
 * `restart` keeps the port and the dir, so clients reconnect to the same address and find
 * exactly what persistence kept.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './net.ts';
import { waitFor } from './wait.ts';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Where the AOF lives; removed by `stop`. */
  readonly dir: string;
  /** True while no redis-server runs: from the old process's exit until a new one is spawned. */
  readonly down: boolean;
  /** Stops the server (SIGTERM, then SIGKILL after a bound) and removes its dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the server, stays down `downMs`, starts it again on the same port with the same dir. */
  restart(downMs: number): Promise<void>;
}

export interface StartRedisOptions {
  /** AOF persistence (default true); false runs Redis with no persistence at all. */
  readonly appendonly?: boolean;
  /** More redis-server arguments, for example `['--maxmemory', '10mb']`. */
  readonly args?: readonly string[];
}

const REDIS_SERVER = '/usr/bin/redis-server';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_KEPT = 8_192;

/** Every server still running, killed when the test process exits however it exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendonly === false ? 'no' : 'yes',
    '--appendfsync',
    'everysec',
    '--daemonize',
    'no',
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let output = '';
  let stopped = false;
  let down = false;

  async function launch(): Promise<void> {
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    down = false;
    running.add(proc);
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-OUTPUT_KEPT);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    proc.once('exit', () => {
      running.delete(proc);
      down = true; // also when it crashed
    });
    const exited = (): boolean => proc.exitCode !== null || proc.signalCode !== null;
    try {
      await waitFor(
        async () => exited() || (await ping(port)),
        START_TIMEOUT_MS,
        `redis-server on port ${port} to answer PING`,
      );
      if (exited()) throw new Error(`redis-server exited (${proc.exitCode ?? proc.signalCode})`);
    } catch (err) {
      await terminate();
      throw new Error(`redis-server did not start on port ${port}:\n${output}`, { cause: err });
    }
  }

  async function terminate(): Promise<void> {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM'); // Redis writes the AOF out and exits cleanly on SIGTERM
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  await launch().catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get down() {
      return down;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate();
      await rm(dir, { recursive: true, force: true });
    },
    async restart(downMs) {
      if (stopped) throw new Error('redis-server was stopped');
      await terminate();
      await sleep(downMs);
      await launch();
    },
  };
}

/** True when the server answers PING with PONG (not, for example, LOADING). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
