/**
 * The broker's connections to Redis: how each is opened, how it reconnects, how it is closed.
 * Publishes, pub/sub and history reads each have a connection of their own.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../shared/logger.ts';

export type RedisRole = 'publisher' | 'subscriber' | 'history';

/**
 * Reconnect schedule: doubling from 50 ms so a blip costs little, capped at 2 s so a node notices a
 * recovered Redis soon, ±20 % jitter so a fleet of nodes does not reconnect in lockstep.
 */
export const RECONNECT = { baseMs: 50, capMs: 2_000, jitter: 0.2 } as const;

/** The delay before reconnect attempt `attempt` (1-based). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT.baseMs * 2 ** Math.min(attempt - 1, 16), RECONNECT.capMs);
  return Math.round(base * (1 + RECONNECT.jitter * (2 * random() - 1)));
}

/**
 * A connection that stops answering without closing (a network partition sends no RST) is found
 * by a PING every 5 s: with `socketTimeout` a command left unanswered that long destroys the socket
 * and reconnects. TCP keepalive alone takes minutes, while the subscriber looks ready and delivers
 * nothing.
 */
export const HEARTBEAT_MS = 5_000;
const QUIT_TIMEOUT_MS = 1_000;

export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]` */
  readonly url: string;
  /** PEM CAs that alone are trusted for a rediss:// URL (Memorystore's server CA). */
  readonly ca?: string;
  /** The password of AUTH (Memorystore's AUTH string); wins over one in the URL. */
  readonly password?: string;
}

export interface ConnectionHooks {
  readonly log: Logger;
  /** True once the broker closes: no more reconnects. */
  closed(): boolean;
  /** The connection became ready, closed or ended: health may have changed. */
  changed(): void;
  /** The connection closed; a new one may reach a restarted Redis. */
  closedConnection(conn: Redis): void;
}

/** A lazily connecting client for `role`; `connect()` starts it, retryStrategy keeps it. */
export function connectRedis(target: RedisTarget, role: RedisRole, hooks: ConnectionHooks): Redis {
  const { log } = hooks;
  let lastError: Error | undefined;
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    connectionName: `wsfleet-${role}`,
    protocol: 3,
    // Fail instead of queueing or resending: a publish made during an outage must reject now,
    // not be replayed after the reconnect, where it may overtake a subscriber's resubscribe
    // and be lost while it reported success. The subscriber resubscribes by itself on 'ready'.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    socketTimeout: HEARTBEAT_MS,
    ...(target.password === undefined ? {} : { password: target.password }),
    // rediss:// verifies the server's chain and name; with a CA file only those CAs count.
    ...(new URL(target.url).protocol === 'rediss:'
      ? { tls: target.ca === undefined ? {} : { ca: target.ca } }
      : {}),
    retryStrategy(attempt) {
      if (hooks.closed()) return null;
      const delayMs = reconnectDelay(attempt);
      log.warn({ connection: role, attempt, delayMs, err: lastError }, 'redis connection lost, reconnecting');
      return delayMs;
    },
  };
  const conn = new Redis(target.url, redisOptions);
  conn.on('error', (err: Error) => {
    lastError = withoutCommand(err);
  });
  conn.on('ready', () => {
    lastError = undefined;
    log.info({ connection: role }, 'redis connection ready');
    hooks.changed();
  });
  conn.on('close', () => {
    hooks.closedConnection(conn);
    hooks.changed();
  });
  conn.on('end', hooks.changed);
  return conn;
}

/**
 * The error without ioredis's `command` (name and arguments): a refused HELLO or AUTH carries the
 * password there, and the error is logged.
 */
function withoutCommand(err: Error): Error {
  if (!('command' in err)) return err;
  const copy = new Error(err.message);
  copy.name = err.name;
  const { code } = err as NodeJS.ErrnoException;
  if (code !== undefined) Object.assign(copy, { code });
  return copy;
}

/** QUIT if connected, waiting at most QUIT_TIMEOUT_MS for Redis to answer; then disconnects. */
export async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
    });
    await Promise.race([conn.quit().catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
  conn.disconnect();
}
