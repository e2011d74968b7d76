/**
 * A real redis-server for integration tests: 127.0.0.1 on a free port, its files in a temp dir,
 * AOF with fsync every second by default (as production runs it) and no RDB snapshots.
 * `restart` keeps the port and the dir, so clients reconnect to the same address and find
 * exactly what persistence kept. With `tls` it listens only on a TLS port (as Memorystore with
 * in-transit encryption does) and with `password` it asks for AUTH (Memorystore's AUTH string).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls } from 'node:tls';
import { freePort } from './net.ts';
import { waitFor } from './wait.ts';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, or `rediss://` with `tls` */
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
  /** Serve TLS only, with this certificate chain and key (PEM); clients show no certificate. */
  readonly tls?: { readonly certificatePem: string; readonly privateKeyPem: string };
  /** `requirepass`: every connection must AUTH with it. */
  readonly password?: string;
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
  const tls = options.tls;
  if (tls !== undefined) {
    await writeFile(join(dir, 'server.pem'), tls.certificatePem);
    await writeFile(join(dir, 'server.key'), tls.privateKeyPem, { mode: 0o600 });
  }
  const args = [
    ...(tls === undefined
      ? ['--port', String(port)]
      : [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          join(dir, 'server.pem'),
          '--tls-key-file',
          join(dir, 'server.key'),
          '--tls-auth-clients',
          'no',
        ]),
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
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
        async () => exited() || (await ping(port, tls !== undefined, options.password)),
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
    url: `${tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
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

/**
 * True when the server answers PING with PONG (not, for example, LOADING). Over TLS the server's
 * certificate is not checked here: this only asks whether it is up; the tests check it.
 */
function ping(port: number, tls: boolean, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls
      ? connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    const auth = password === undefined ? '' : `AUTH ${password}\r\n`;
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(`${auth}PING\r\n`));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      const lines = reply.split('\r\n');
      if (lines.length > (auth === '' ? 1 : 2)) done(lines[auth === '' ? 0 : 1] === '+PONG');
    });
  });
}
