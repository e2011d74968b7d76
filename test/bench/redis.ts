/**
 * The one Redis both systems use: a redis-server on a free loopback port, without persistence,
 * emptied between runs so that neither system inherits the other's keys.
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, type Spawned, spawnLogged, stopProcess } from './processes.ts';

export interface BenchRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(logFile: string): Promise<BenchRedis> {
  const port = await freePort();
  const spawned: Spawned = spawnLogged(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    logFile,
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  // Refused connections while redis-server starts are expected; the loop below retries them.
  client.on('error', () => undefined);
  let lastError = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await client.connect();
      await client.ping();
      lastError = '';
      break;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      client.disconnect();
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (lastError !== '') {
    await stopProcess(spawned.child);
    throw new Error(`redis-server did not answer on port ${port}: ${lastError}`);
  }
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  return {
    url,
    port,
    pid: spawned.pid,
    version,
    flushAll: async () => {
      await client.flushall();
    },
    stop: async () => {
      client.disconnect();
      await stopProcess(spawned.child);
    },
  };
}
