/**
 * The channels a node subscribes to in Redis: live pub/sub messages handed on in offset order,
 * and a sync from the stream whenever a channel falls behind (a gap, a foreign epoch, a reconnect
 * of the subscriber connection).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import type { BrokerListener, Position } from './broker.ts';
import { createLimiter } from './limiter.ts';
import { type CatchUpContext, type ChannelState, catchUp, dropStale } from './redis-catch-up.ts';
import type { ScriptRunner } from './redis-script-runner.ts';
import { type Live, PUBSUB_PREFIX, parseLive } from './redis-scripts.ts';

const RESUBSCRIBE_BATCH = 500;
/** Channels that catch up at once after a reconnect (each a few small reads). */
export const RECONNECT_SYNC_CONCURRENCY = 32;
const SYNC_RETRY_MS = 1_000;

export interface RedisChannelsDeps {
  /** The subscriber connection (RESP3, so it can read while subscribed). */
  readonly sub: Redis;
  readonly scripts: ScriptRunner;
  readonly log: Logger;
  listener(): BrokerListener | undefined;
  closed(): boolean;
  closedError(): Error;
}

export interface RedisChannels {
  /** The subscriber connection's 'messageBuffer' listener. */
  onMessage(rawChannel: Buffer, body: Buffer): void;
  /** On every (re)connect of the subscriber: subscribe again, then catch every channel up. */
  resubscribe(): Promise<void>;
  /** Subscribes to `channel` and reads its position; live messages flow to the listener after. */
  open(channel: string): Promise<Position>;
  /** Unsubscribes from `channel`; nothing more of it reaches the listener. */
  drop(channel: string): Promise<void>;
  /** Forgets every channel and stops every retry (on close). */
  clear(): void;
}

export function createRedisChannels(deps: RedisChannelsDeps): RedisChannels {
  const { log } = deps;
  const channels = new Map<string, ChannelState>();
  const reconnectSyncs = createLimiter(RECONNECT_SYNC_CONCURRENCY);
  const timers = new Set<NodeJS.Timeout>();
  let received = 0;
  const ctx: CatchUpContext = {
    sub: deps.sub,
    scripts: deps.scripts,
    log,
    received: () => received,
    current: (channel, state) => channels.get(channel) === state,
    deliver,
    reset,
  };

  function deliver(channel: string, state: ChannelState, offset: number, payload: Buffer): void {
    state.lastOffset = offset;
    state.lastPayload = payload;
    try {
      deps.listener()?.publication(channel, { channel, offset, payload });
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
      deps.listener()?.reset(channel, position);
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
      while (!deps.closed() && channels.get(channel) === state && state.held !== undefined) {
        if (state.stale) {
          state.stale = false;
          await catchUp(ctx, channel, state);
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
      if (deps.closed() || channels.get(channel) !== state) return;
      state.stale = true;
      // A dropped connection syncs again on its next 'ready'; anything else is retried here.
      if (deps.sub.status !== 'ready') return;
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
    if (live.length === 0 || deps.closed()) return;
    for (const [, state] of live) {
      state.held ??= [];
      state.stale = true;
    }
    try {
      for (let i = 0; i < live.length; i += RESUBSCRIBE_BATCH) {
        await deps.sub.subscribe(
          ...live.slice(i, i + RESUBSCRIBE_BATCH).map(([channel]) => PUBSUB_PREFIX + channel),
        );
      }
    } catch (err) {
      if (deps.closed()) return;
      // Reconnecting again brings the next 'ready', which retries from the start.
      log.warn({ err, channels: live.length }, 'could not resubscribe, reconnecting');
      if (deps.sub.status === 'ready') deps.sub.disconnect(true);
      return;
    }
    log.info({ channels: live.length }, 'resubscribed');
    // Every channel must catch up, but not all at once against a Redis that just came back.
    for (const [channel, state] of live) sync(channel, state, true);
  }

  return {
    onMessage,
    resubscribe,

    async open(channel) {
      if (deps.closed()) throw deps.closedError();
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
        await deps.sub.subscribe(PUBSUB_PREFIX + channel);
        const readSeq = received;
        const position = await deps.scripts.position(deps.sub, channel);
        if (channels.get(channel) !== state) throw deps.closedError();
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
          if (deps.sub.status === 'ready')
            deps.sub.unsubscribe(PUBSUB_PREFIX + channel).catch(() => undefined);
        }
        throw err;
      }
    },

    async drop(channel) {
      // A dropped connection took the subscription with it, and `resubscribe` skips the channel.
      if (!channels.delete(channel) || deps.sub.status !== 'ready') return;
      await deps.sub.unsubscribe(PUBSUB_PREFIX + channel).catch((err: unknown) => {
        log.debug({ err, channel }, 'unsubscribe failed with the connection');
      });
    },

    clear() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      channels.clear();
    },
  };
}
