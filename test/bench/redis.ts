/**
 * The one Redis both systems use: the integration tests' redis-server (a free loopback port),
 * here without persistence, emptied between runs so that neither system inherits the other's keys.
 */
import { Redis } from 'ioredis';
import { startRedis as startTestRedis } from '../helpers/redis.ts';

export interface BenchRedis {
  readonly url: string;
  readonly port: number;
  /** The redis-server process, for its CPU time. */
  readonly pid: number;
  readonly version: string;
  flushAll(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<BenchRedis> {
  const server = await startTestRedis({ appendonly: false });
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    const info = await client.info('server');
    const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
    if (!Number.isInteger(pid)) throw new Error('INFO server reported no process_id');
    return {
      url: server.url,
      port: server.port,
      pid,
      version: /^redis_version:(\S+)/m.exec(info)?.[1] ?? '?',
      flushAll: async () => {
        await client.flushall();
      },
      stop: async () => {
        client.disconnect();
        await server.stop();
      },
    };
  } catch (err) {
    client.disconnect();
    await server.stop();
    throw err;
  }
}
