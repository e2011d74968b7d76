/**
 * The broker of a cluster: publications and each channel's bounded history live in Redis, in the
 * shape of Centrifugo's Redis Streams engine. Per channel a stream holds the history and a hash
 * holds the epoch and the offset counter; one Lua script publishes, so the offset, the history
 * entry and the pub/sub message always agree. A subscriber tracks the last offset it handed on per
 * channel and fills any gap from the stream, which keeps delivery exact across reconnects and
 * Redis restarts; pub/sub alone loses whatever is published while a subscriber reconnects.
 *
 * Needs Redis >= 6: the subscriber connection speaks RESP3, so it can read positions and history
 * while it is subscribed, and those reads reach Redis only after the SUBSCRIBE before them.
 */
import type { Redis } from 'ioredis';
import { WsfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { type Broker, type BrokerListener, type HistoryResult, IDEMPOTENCY_WINDOW_MS } from './broker.ts';
import { epochRetentionMs, type HistoryLimits, newEpoch } from './memory-broker.ts';
import { createRedisChannels } from './redis-channels.ts';
import { connectRedis, HEARTBEAT_MS, quit, type RedisRole, type RedisTarget } from './redis-connect.ts';
import { readHistory } from './redis-history.ts';
import { createScriptRunner } from './redis-script-runner.ts';
import { idempotencyKey, metaKey, PUBLISH, PUBSUB_PREFIX, streamKey, toPublished } from './redis-scripts.ts';

export { RECONNECT_SYNC_CONCURRENCY } from './redis-channels.ts';
export { RECONNECT, reconnectDelay } from './redis-connect.ts';

export interface RedisBrokerOptions extends RedisTarget {
  readonly limits: HistoryLimits;
  readonly log: Logger;
  /** How long a publish may wait for Redis before it is reported as failed. */
  readonly publishTimeoutMs?: number;
}

export function createRedisBroker(options: RedisBrokerOptions): Broker {
  const { limits } = options;
  const log = options.log.child({ component: 'redis-broker' });
  const publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
  const retentionMs = epochRetentionMs(limits);
  const scripts = createScriptRunner(retentionMs);
  const chains = new Map<string, Promise<unknown>>();
  const pending = new Set<(err: Error) => void>();
  const healthWaiters: (() => void)[] = [];
  let listener: BrokerListener | undefined;
  let reportedHealth = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const connect = (role: RedisRole): Redis =>
    connectRedis(options, role, {
      log,
      closed: () => closed,
      changed: updateHealth,
      closedConnection: (conn) => scripts.forget(conn),
    });
  const pub = connect('publisher');
  const sub = connect('subscriber');
  const hist = connect('history');
  const channels = createRedisChannels({
    sub,
    scripts,
    log,
    listener: () => listener,
    closed: () => closed,
    closedError,
  });
  sub.on('messageBuffer', channels.onMessage);
  sub.on('ready', () => void channels.resubscribe());

  function isHealthy(): boolean {
    return !closed && pub.status === 'ready' && sub.status === 'ready' && hist.status === 'ready';
  }

  function updateHealth(): void {
    const healthy = isHealthy();
    if (healthy) for (const wake of healthWaiters.splice(0)) wake();
    if (healthy === reportedHealth) return;
    reportedHealth = healthy;
    listener?.health?.(healthy);
  }

  function closedError(): WsfleetError {
    return new WsfleetError('WSFLEET_BROKER_CLOSED', 'broker is closed');
  }

  function unavailable(err: unknown): Error {
    if (closed) return closedError();
    if (err instanceof WsfleetError) return err;
    // maxRetriesPerRequest 0: the connection dropped while the command was in flight.
    const message =
      err instanceof Error && err.name === 'MaxRetriesPerRequestError'
        ? 'the connection to redis was lost before it answered (the command may have run)'
        : `redis is unavailable: ${err instanceof Error ? err.message : String(err)}`;
    return new WsfleetError('WSFLEET_REDIS_UNAVAILABLE', message, { cause: err });
  }

  /** Runs `op`, rejecting it with WSFLEET_BROKER_CLOSED on close and after `timeoutMs` if given. */
  function guard<T>(op: () => Promise<T>, timeoutMs?: number): Promise<T> {
    if (closed) return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        pending.delete(fail);
        clearTimeout(timer);
      };
      const fail = (err: Error): void => {
        done();
        reject(err);
      };
      pending.add(fail);
      const timer =
        timeoutMs === undefined ? undefined : setTimeout(() => fail(timedOut(timeoutMs)), timeoutMs);
      op().then(
        (value) => {
          done();
          resolve(value);
        },
        (err: unknown) => fail(unavailable(err)),
      );
    });
  }

  /** Subscribe and unsubscribe of one channel run one after the other. */
  function serialize<T>(channel: string, op: () => Promise<T>): Promise<T> {
    const next = (chains.get(channel) ?? Promise.resolve()).then(op, op);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    chains.set(channel, tail);
    void tail.then(() => {
      if (chains.get(channel) === tail) chains.delete(channel);
    });
    return next;
  }

  return {
    async start(l) {
      if (closed) throw closedError();
      listener = l;
      heartbeat ??= setInterval(() => {
        for (const conn of [pub, sub, hist]) if (conn.status === 'ready') conn.ping().catch(() => undefined);
      }, HEARTBEAT_MS);
      pub.connect().catch(() => undefined); // failures reconnect by retryStrategy and are logged there
      sub.connect().catch(() => undefined);
      hist.connect().catch(() => undefined);
      await guard(
        () =>
          new Promise<void>((resolve) => {
            if (isHealthy()) resolve();
            else healthWaiters.push(resolve);
          }),
      );
    },

    publish(channel, data, key) {
      const keys = [streamKey(channel), metaKey(channel), idempotencyKey(channel, key ?? '')];
      const args = [
        newEpoch(),
        retentionMs,
        limits.historySize,
        PUBSUB_PREFIX + channel,
        JSON.stringify(channel),
        data,
        limits.historyTtlMs,
        key === undefined ? '' : '1',
        IDEMPOTENCY_WINDOW_MS,
      ];
      return guard(async () => toPublished(await scripts.run(pub, PUBLISH, keys, args)), publishTimeoutMs);
    },

    subscribe(channel) {
      return guard(() => serialize(channel, () => channels.open(channel)));
    },

    async unsubscribe(channel) {
      if (closed) return;
      await serialize(channel, () => channels.drop(channel));
    },

    history(channel, since, wanted): Promise<HistoryResult> {
      return guard(() => readHistory(hist, scripts, limits, channel, since, wanted));
    },

    healthy: isHealthy,

    close() {
      closing ??= (async () => {
        closed = true;
        for (const fail of [...pending]) fail(closedError());
        clearInterval(heartbeat);
        channels.clear();
        await Promise.all([quit(pub), quit(sub), quit(hist)]);
        updateHealth();
      })();
      return closing;
    },
  };
}

function timedOut(timeoutMs: number): WsfleetError {
  return new WsfleetError(
    'WSFLEET_REDIS_UNAVAILABLE',
    `redis did not answer in ${timeoutMs} ms (it may still run)`,
  );
}
