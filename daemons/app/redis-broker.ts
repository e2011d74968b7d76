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
import { Redis, type RedisOptions } from 'ioredis';
import { WsfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import {
  type Broker,
  type BrokerListener,
  type HistoryResult,
  IDEMPOTENCY_WINDOW_MS,
  type Position,
  type Publication,
} from './broker.ts';
import { createLimiter } from './limiter.ts';
import { epochRetentionMs, type HistoryLimits, newEpoch } from './memory-broker.ts';
import {
  entryOffset,
  entryPayload,
  idempotencyKey,
  type Live,
  metaKey,
  POSITION,
  PUBLISH,
  PUBSUB_PREFIX,
  parseLive,
  ROTATE,
  type Script,
  streamKey,
  toPosition,
  toPublished,
} from './redis-scripts.ts';

export interface RedisBrokerOptions {
  /** `redis://[user:password@]host:port[/db]` */
  readonly url: string;
  /** PEM CAs that alone are trusted for a rediss:// URL (Memorystore's server CA). */
  readonly ca?: string;
  /** The password of AUTH (Memorystore's AUTH string); wins over one in the URL. */
  readonly password?: string;
  readonly limits: HistoryLimits;
  readonly log: Logger;
  /** How long a publish may wait for Redis before it is reported as failed. */
  readonly publishTimeoutMs?: number;
}

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

/** Reads the gap after a reconnect in batches, so one channel's backlog never blocks the rest long. */
const FILL_BATCH = 500;
const RESUBSCRIBE_BATCH = 500;
/** Channels that catch up at once after a reconnect (each a few small reads). */
export const RECONNECT_SYNC_CONCURRENCY = 32;
/** Entries per history read of a resume: one XRANGE reply stays small whatever the history holds. */
const HISTORY_BATCH = 200;
const SYNC_RETRY_MS = 1_000;
/**
 * A connection that stops answering without closing (a network partition sends no RST) is found
 * by a PING every 5 s: with `socketTimeout` a command left unanswered that long destroys the socket
 * and reconnects. TCP keepalive alone takes minutes, while the subscriber looks ready and delivers
 * nothing.
 */
const HEARTBEAT_MS = 5_000;
const QUIT_TIMEOUT_MS = 1_000;

interface ChannelState {
  /** Undefined until `subscribe` has read the channel's position. */
  epoch: string | undefined;
  /** The newest offset handed to the listener, or covered by a reset. */
  lastOffset: number;
  /** The payload handed on at `lastOffset` (undefined after a reset): checked against Redis on sync. */
  lastPayload: Buffer | undefined;
  /** Live messages held while the channel syncs from Redis; undefined while it is live. */
  held: Live[] | undefined;
  /** The next sync must read the position first (after a reconnect, a gap, a foreign epoch). */
  stale: boolean;
  syncing: boolean;
}

export function createRedisBroker(options: RedisBrokerOptions): Broker {
  const { limits } = options;
  const log = options.log.child({ component: 'redis-broker' });
  const publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
  const retentionMs = epochRetentionMs(limits);
  const channels = new Map<string, ChannelState>();
  const reconnectSyncs = createLimiter(RECONNECT_SYNC_CONCURRENCY);
  /** Scripts sent with EVAL on each connection since it last connected. */
  const loadedScripts = new Map<Redis, Set<string>>();
  const chains = new Map<string, Promise<unknown>>();
  const pending = new Set<(err: Error) => void>();
  const timers = new Set<NodeJS.Timeout>();
  const healthWaiters: (() => void)[] = [];
  let listener: BrokerListener | undefined;
  let reportedHealth = false;
  let received = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const pub = connect('publisher');
  const sub = connect('subscriber');
  const hist = connect('history');
  sub.on('messageBuffer', onMessage);
  sub.on('ready', () => void resubscribe());

  function connect(role: 'publisher' | 'subscriber' | 'history'): Redis {
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
      ...(options.password === undefined ? {} : { password: options.password }),
      // rediss:// verifies the server's chain and name; with a CA file only those CAs count.
      ...(new URL(options.url).protocol === 'rediss:'
        ? { tls: options.ca === undefined ? {} : { ca: options.ca } }
        : {}),
      retryStrategy(attempt) {
        if (closed) return null;
        const delayMs = reconnectDelay(attempt);
        log.warn(
          { connection: role, attempt, delayMs, err: lastError },
          'redis connection lost, reconnecting',
        );
        return delayMs;
      },
    };
    const conn = new Redis(options.url, redisOptions);
    conn.on('error', (err: Error) => {
      lastError = withoutCommand(err);
    });
    conn.on('ready', () => {
      lastError = undefined;
      log.info({ connection: role }, 'redis connection ready');
      updateHealth();
    });
    conn.on('close', () => {
      // A new connection may reach a restarted Redis that forgot the scripts.
      loadedScripts.delete(conn);
      updateHealth();
    });
    conn.on('end', updateHealth);
    return conn;
  }

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

  async function evalScript(
    conn: Redis,
    s: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    // The first use on a connection sends EVAL, which loads the script; later calls send EVALSHA
    // behind it on the same connection. Trying EVALSHA first and falling back on NOSCRIPT would
    // reorder publications: those in flight when the script was missing would be executed after
    // later ones that found it loaded.
    let scripts = loadedScripts.get(conn);
    if (scripts === undefined) {
      scripts = new Set();
      loadedScripts.set(conn, scripts);
    }
    if (!scripts.has(s.sha)) {
      scripts.add(s.sha);
      return conn.eval(s.lua, keys.length, ...keys, ...args);
    }
    try {
      return await conn.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // Only a SCRIPT FLUSH while connected gets here; EVAL loads the script again.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return conn.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  async function readPosition(conn: Redis, channel: string): Promise<Position> {
    const keys = [streamKey(channel), metaKey(channel)];
    return toPosition(await evalScript(conn, POSITION, keys, [newEpoch(), retentionMs]));
  }

  function deliver(channel: string, state: ChannelState, offset: number, payload: Buffer): void {
    state.lastOffset = offset;
    state.lastPayload = payload;
    try {
      listener?.publication(channel, { channel, offset, payload });
    } catch (err) {
      log.error({ err, channel, offset }, 'publication listener failed');
    }
  }

  function reset(channel: string, state: ChannelState, position: Position): void {
    log.info({ channel, epoch: position.epoch, offset: position.offset }, 'channel history lost, resetting');
    state.epoch = position.epoch;
    state.lastOffset = position.offset;
    state.lastPayload = undefined;
    try {
      listener?.reset(channel, position);
    } catch (err) {
      log.error({ err, channel }, 'reset listener failed');
    }
  }

  /** Hands on a live message if it is next; false when the channel must sync first. */
  function apply(channel: string, state: ChannelState, live: Live): boolean {
    if (live.epoch !== state.epoch || live.offset > state.lastOffset + 1) return false;
    if (live.offset === state.lastOffset + 1) deliver(channel, state, live.offset, live.payload);
    return true; // or a duplicate: already handed on, from history or an earlier message
  }

  function onMessage(rawChannel: Buffer, body: Buffer): void {
    const channel = rawChannel.toString().slice(PUBSUB_PREFIX.length);
    const state = channels.get(channel);
    if (state === undefined) return;
    const live = parseLive(body, ++received);
    if (live === undefined) {
      log.warn({ channel }, 'dropped a malformed pub/sub message');
      return;
    }
    if (state.held !== undefined) {
      state.held.push(live);
    } else if (live.epoch === state.epoch && live.offset <= state.lastOffset) {
      // While live, an offset already handed on can only be a reused one (Redis lost writes and
      // numbers again): sync, which checks the channel against what was delivered.
      state.held = [live];
      state.stale = true;
      sync(channel, state);
    } else if (!apply(channel, state, live)) {
      state.held = [live];
      state.stale = true;
      sync(channel, state);
    }
  }

  /**
   * Keeps only what a position read at `readSeq` does not already explain: a message of another
   * epoch received before the read was published before it, so it belongs to an older epoch.
   */
  function dropStale(state: ChannelState, readSeq: number): void {
    state.held = state.held?.filter((live) => live.seq > readSeq || live.epoch === state.epoch);
  }

  /** Brings the channel up to the position in Redis: the gap from the stream, or a reset. */
  async function catchUp(channel: string, state: ChannelState): Promise<void> {
    const readSeq = received;
    let top = await readPosition(sub, channel);
    if (channels.get(channel) !== state) return;
    if (top.epoch === state.epoch && (await lostWrites(channel, state, top))) {
      if (channels.get(channel) !== state) return;
      // Offsets we handed on are gone or will be reused: a new epoch for every node and client,
      // so that no position from before is taken for one after.
      top = await rotateEpoch(channel, state.epoch);
      if (channels.get(channel) !== state) return;
      log.warn(
        { channel, epoch: top.epoch, offset: top.offset },
        'redis lost publications; channel moved to a new epoch',
      );
    }
    if (top.epoch !== state.epoch) {
      if (!(await resetFromHistory(channel, state, top))) return;
    } else if (top.offset > state.lastOffset) {
      const from = state.lastOffset + 1;
      if (!(await fill(channel, state, top.offset))) return;
      if (state.lastOffset === top.offset) {
        log.debug({ channel, from, to: top.offset }, 'filled publications from history');
      } else if (!(await resetFromHistory(channel, state, top))) {
        return; // trimmed or expired before we read it
      }
    }
    dropStale(state, readSeq);
  }

  /**
   * Whether Redis lost writes this node already handed on (a failover to a replica behind, a
   * crash inside the fsync window): its counter is behind ours, or the entry at our last offset
   * is not the one we delivered. A trimmed or expired entry proves nothing and is not a loss.
   */
  async function lostWrites(channel: string, state: ChannelState, top: Position): Promise<boolean> {
    if (top.offset < state.lastOffset) return true;
    const expected = state.lastPayload;
    if (expected === undefined || state.lastOffset === 0) return false;
    const id = `0-${state.lastOffset}`;
    const [entry] = await sub.xrangeBuffer(streamKey(channel), id, id);
    return entry !== undefined && !entryPayload(entry).equals(expected);
  }

  async function rotateEpoch(channel: string, lost: string): Promise<Position> {
    const keys = [streamKey(channel), metaKey(channel)];
    return toPosition(await evalScript(sub, ROTATE, keys, [lost, newEpoch(), retentionMs]));
  }

  /**
   * The publications we missed are gone: reset to just before the oldest entry the stream still
   * holds and hand on everything from there, so that what was published since the loss (a new
   * epoch starts with an empty stream) still reaches subscribers. False if unsubscribed meanwhile.
   */
  async function resetFromHistory(channel: string, state: ChannelState, top: Position): Promise<boolean> {
    const [oldest] = await sub.xrangeBuffer(streamKey(channel), '-', '+', 'COUNT', 1);
    if (channels.get(channel) !== state) return false;
    const first = oldest === undefined ? top.offset + 1 : entryOffset(oldest);
    reset(channel, state, { epoch: top.epoch, offset: Math.min(Math.max(first - 1, 0), top.offset) });
    return fill(channel, state, top.offset);
  }

  /** Hands on the stream's entries up to `to` while they follow on; false if unsubscribed meanwhile. */
  async function fill(channel: string, state: ChannelState, to: number): Promise<boolean> {
    for (;;) {
      const want = state.lastOffset + 1;
      const entries = await sub.xrangeBuffer(streamKey(channel), `0-${want}`, `0-${to}`, 'COUNT', FILL_BATCH);
      if (channels.get(channel) !== state) return false;
      for (const entry of entries) {
        const offset = entryOffset(entry);
        if (offset !== state.lastOffset + 1) return true;
        deliver(channel, state, offset, entryPayload(entry));
      }
      if (entries.length < FILL_BATCH || state.lastOffset >= to) return true;
    }
  }

  /** Syncs the channel in the background until it is live again; one sync per channel at a time. */
  function sync(channel: string, state: ChannelState, limited = false): void {
    if (state.syncing) return;
    state.syncing = true;
    const run = (): Promise<void> => runSync(channel, state);
    void (limited ? reconnectSyncs.run(run) : run()).finally(() => {
      state.syncing = false;
    });
  }

  async function runSync(channel: string, state: ChannelState): Promise<void> {
    try {
      while (!closed && channels.get(channel) === state && state.held !== undefined) {
        if (state.stale) {
          state.stale = false;
          await catchUp(channel, state);
          continue;
        }
        const held = state.held;
        let i = 0;
        while (i < held.length && apply(channel, state, held[i] as Live)) i++;
        if (i === held.length) {
          state.held = undefined;
        } else {
          state.held = held.slice(i);
          state.stale = true;
        }
      }
    } catch (err) {
      if (closed || channels.get(channel) !== state) return;
      state.stale = true;
      // A dropped connection syncs again on its next 'ready'; anything else is retried here.
      if (sub.status !== 'ready') return;
      log.warn({ err, channel, retryMs: SYNC_RETRY_MS }, 'could not sync channel from redis, retrying');
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (channels.get(channel) === state) sync(channel, state);
      }, SYNC_RETRY_MS);
      timers.add(timer);
    }
  }

  /** On every (re)connect of the subscriber: subscribe again, then catch every channel up. */
  async function resubscribe(): Promise<void> {
    const live = [...channels].filter(([, state]) => state.epoch !== undefined);
    if (live.length === 0 || closed) return;
    for (const [, state] of live) {
      state.held ??= [];
      state.stale = true;
    }
    try {
      for (let i = 0; i < live.length; i += RESUBSCRIBE_BATCH) {
        await sub.subscribe(
          ...live.slice(i, i + RESUBSCRIBE_BATCH).map(([channel]) => PUBSUB_PREFIX + channel),
        );
      }
    } catch (err) {
      if (closed) return;
      // Reconnecting again brings the next 'ready', which retries from the start.
      log.warn({ err, channels: live.length }, 'could not resubscribe, reconnecting');
      if (sub.status === 'ready') sub.disconnect(true);
      return;
    }
    log.info({ channels: live.length }, 'resubscribed');
    // Every channel must catch up, but not all at once against a Redis that just came back.
    for (const [channel, state] of live) sync(channel, state, true);
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
      return guard(async () => toPublished(await evalScript(pub, PUBLISH, keys, args)), publishTimeoutMs);
    },

    subscribe(channel) {
      return guard(() =>
        serialize(channel, async () => {
          if (closed) throw closedError();
          const current = channels.get(channel);
          if (current?.epoch !== undefined) return { epoch: current.epoch, offset: current.lastOffset };
          const state: ChannelState = {
            epoch: undefined,
            lastOffset: 0,
            lastPayload: undefined,
            held: [],
            stale: false,
            syncing: true,
          };
          channels.set(channel, state);
          try {
            await sub.subscribe(PUBSUB_PREFIX + channel);
            const readSeq = received;
            const position = await readPosition(sub, channel);
            if (channels.get(channel) !== state) throw closedError();
            state.epoch = position.epoch;
            state.lastOffset = position.offset;
            dropStale(state, readSeq);
            state.syncing = false;
            // Held publications reach the listener only after the caller has seen the position.
            setImmediate(() => sync(channel, state));
            return position;
          } catch (err) {
            if (channels.get(channel) === state) {
              channels.delete(channel);
              if (sub.status === 'ready') sub.unsubscribe(PUBSUB_PREFIX + channel).catch(() => undefined);
            }
            throw err;
          }
        }),
      );
    },

    async unsubscribe(channel) {
      if (closed) return;
      await serialize(channel, async () => {
        // A dropped connection took the subscription with it, and `resubscribe` skips the channel.
        if (!channels.delete(channel) || sub.status !== 'ready') return;
        await sub.unsubscribe(PUBSUB_PREFIX + channel).catch((err: unknown) => {
          log.debug({ err, channel }, 'unsubscribe failed with the connection');
        });
      });
    },

    history(channel, since, wanted): Promise<HistoryResult> {
      return guard(async () => {
        // On a connection of its own: a large replay never holds up publishes or live delivery.
        const position = await readPosition(hist, channel);
        if ((wanted !== undefined && wanted !== position.epoch) || since > position.offset) {
          return { recovered: false, reason: 'epoch_changed', position };
        }
        const tooOld = { recovered: false, reason: 'too_old', position } as const;
        // MAXLEN ~ trims lazily, so the stream may keep more than the history promises.
        if (position.offset - since > limits.historySize) return tooOld;
        const publications: Publication[] = [];
        // Read in bounded batches up to the position read above (later entries are live ones).
        while (publications.length < position.offset - since) {
          const from = since + 1 + publications.length;
          const entries = await hist.xrangeBuffer(
            streamKey(channel),
            `0-${from}`,
            `0-${position.offset}`,
            'COUNT',
            HISTORY_BATCH,
          );
          for (const entry of entries) {
            if (entryOffset(entry) !== since + 1 + publications.length) return tooOld;
            publications.push({ channel, offset: entryOffset(entry), payload: entryPayload(entry) });
          }
          // Fewer than expected: trimmed or expired under us.
          if (entries.length < HISTORY_BATCH && publications.length !== position.offset - since)
            return tooOld;
        }
        return { recovered: true, position, publications };
      });
    },

    healthy: isHealthy,

    close() {
      closing ??= (async () => {
        closed = true;
        for (const fail of [...pending]) fail(closedError());
        clearInterval(heartbeat);
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        channels.clear();
        await Promise.all([quit(pub), quit(sub), quit(hist)]);
        updateHealth();
      })();
      return closing;
    },
  };
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

async function quit(conn: Redis): Promise<void> {
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

function timedOut(timeoutMs: number): WsfleetError {
  return new WsfleetError(
    'WSFLEET_REDIS_UNAVAILABLE',
    `redis did not answer in ${timeoutMs} ms (it may still run)`,
  );
}
