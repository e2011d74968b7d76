/**
 * Bringing one channel of a node up to the position Redis holds: the publications it missed read
 * from the stream, or a reset when they are gone, and a new epoch when Redis lost writes the node
 * had already handed on.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../shared/logger.ts';
import type { Position } from './broker.ts';
import type { ScriptRunner } from './redis-script-runner.ts';
import { entryOffset, entryPayload, type Live, streamKey } from './redis-scripts.ts';

/** Reads the gap after a reconnect in batches, so one channel's backlog never blocks the rest long. */
const FILL_BATCH = 500;

export interface ChannelState {
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

/** What catching a channel up needs of its node. */
export interface CatchUpContext {
  /** The subscriber connection: its reads reach Redis after the SUBSCRIBE before them. */
  readonly sub: Redis;
  readonly scripts: ScriptRunner;
  readonly log: Logger;
  /** How many pub/sub messages the node has received so far (their `seq`). */
  received(): number;
  /** False once the channel was unsubscribed (or subscribed anew) meanwhile. */
  current(channel: string, state: ChannelState): boolean;
  /** Hands a publication on to the listener and records it as the channel's last. */
  deliver(channel: string, state: ChannelState, offset: number, payload: Buffer): void;
  /** Tells the listener the channel starts again after `position`. */
  reset(channel: string, state: ChannelState, position: Position): void;
}

/**
 * Keeps only what a position read at `readSeq` does not already explain: a message of another
 * epoch received before the read was published before it, so it belongs to an older epoch.
 */
export function dropStale(state: ChannelState, readSeq: number): void {
  state.held = state.held?.filter((live) => live.seq > readSeq || live.epoch === state.epoch);
}

/** Brings the channel up to the position in Redis: the gap from the stream, or a reset. */
export async function catchUp(ctx: CatchUpContext, channel: string, state: ChannelState): Promise<void> {
  const readSeq = ctx.received();
  let top = await ctx.scripts.position(ctx.sub, channel);
  if (!ctx.current(channel, state)) return;
  if (top.epoch === state.epoch && (await lostWrites(ctx, channel, state, top))) {
    if (!ctx.current(channel, state)) return;
    // Offsets we handed on are gone or will be reused: a new epoch for every node and client,
    // so that no position from before is taken for one after.
    top = await ctx.scripts.rotate(ctx.sub, channel, state.epoch);
    if (!ctx.current(channel, state)) return;
    ctx.log.warn(
      { channel, epoch: top.epoch, offset: top.offset },
      'redis lost publications; channel moved to a new epoch',
    );
  }
  if (top.epoch !== state.epoch) {
    if (!(await resetFromHistory(ctx, channel, state, top))) return;
  } else if (top.offset > state.lastOffset) {
    const from = state.lastOffset + 1;
    if (!(await fill(ctx, channel, state, top.offset))) return;
    if (state.lastOffset === top.offset) {
      ctx.log.debug({ channel, from, to: top.offset }, 'filled publications from history');
    } else if (!(await resetFromHistory(ctx, channel, state, top))) {
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
async function lostWrites(
  ctx: CatchUpContext,
  channel: string,
  state: ChannelState,
  top: Position,
): Promise<boolean> {
  if (top.offset < state.lastOffset) return true;
  const expected = state.lastPayload;
  if (expected === undefined || state.lastOffset === 0) return false;
  const id = `0-${state.lastOffset}`;
  const [entry] = await ctx.sub.xrangeBuffer(streamKey(channel), id, id);
  return entry !== undefined && !entryPayload(entry).equals(expected);
}

/**
 * The publications we missed are gone: reset to just before the oldest entry the stream still
 * holds and hand on everything from there, so that what was published since the loss (a new
 * epoch starts with an empty stream) still reaches subscribers. False if unsubscribed meanwhile.
 */
async function resetFromHistory(
  ctx: CatchUpContext,
  channel: string,
  state: ChannelState,
  top: Position,
): Promise<boolean> {
  const [oldest] = await ctx.sub.xrangeBuffer(streamKey(channel), '-', '+', 'COUNT', 1);
  if (!ctx.current(channel, state)) return false;
  const first = oldest === undefined ? top.offset + 1 : entryOffset(oldest);
  ctx.reset(channel, state, { epoch: top.epoch, offset: Math.min(Math.max(first - 1, 0), top.offset) });
  return fill(ctx, channel, state, top.offset);
}

/** Hands on the stream's entries up to `to` while they follow on; false if unsubscribed meanwhile. */
async function fill(ctx: CatchUpContext, channel: string, state: ChannelState, to: number): Promise<boolean> {
  for (;;) {
    const want = state.lastOffset + 1;
    const entries = await ctx.sub.xrangeBuffer(
      streamKey(channel),
      `0-${want}`,
      `0-${to}`,
      'COUNT',
      FILL_BATCH,
    );
    if (!ctx.current(channel, state)) return false;
    for (const entry of entries) {
      const offset = entryOffset(entry);
      if (offset !== state.lastOffset + 1) return true;
      ctx.deliver(channel, state, offset, entryPayload(entry));
    }
    if (entries.length < FILL_BATCH || state.lastOffset >= to) return true;
  }
}
