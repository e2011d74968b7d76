/**
 * The channels of this node: who subscribes to what, resuming from offsets, and fan-out.
 *
 * Fan-out encodes once (the broker hands over the client JSON), frames once (one Buffer per
 * publication, shared by every subscriber) and writes once per socket per tick (sessions flush
 * from one setImmediate after all the tick's publications were queued).
 */
import type { Logger } from '../shared/logger.ts';
import type { Broker, BrokerListener, Position, Publication, Published } from './broker.ts';
import { textFrame } from './frame.ts';
import type { AppMetrics } from './metrics.ts';
import type { RequestId } from './protocol.ts';
import type { Session } from './session.ts';
import { channelAllowed } from './token.ts';

interface Subscriber {
  readonly session: Session;
  /** Offset of the last publication this subscriber got (or was told to start after). */
  pos: number;
  /** Publications that arrived while the subscription was being set up; null once live. */
  pending: Publication[] | null;
  /** A reset that happened while the subscription was being set up: it goes live from there. */
  resetDuring?: { readonly position: Position; readonly reason: 'too_old' | 'epoch_changed' };
}

interface ChannelState {
  readonly subscribers: Map<Session, Subscriber>;
  readonly ready: Promise<Position>;
  epoch: string;
  /** Newest offset this node has seen on the channel. */
  offset: number;
}

export interface HubOptions {
  readonly broker: Broker;
  readonly log: Logger;
  readonly metrics: AppMetrics;
  readonly maxChannelsPerConnection: number;
  readonly maxSendBufferBytes: number;
  /** A session whose socket queue outgrew maxSendBufferBytes. */
  readonly onSlowConsumer: (session: Session, queuedBytes: number) => void;
}

export interface SubscribeRequest {
  readonly channel: string;
  readonly since?: number;
  readonly epoch?: string;
  readonly id?: RequestId;
}

export class Hub implements BrokerListener {
  private readonly channels = new Map<string, ChannelState>();
  private dirty: Session[] = [];
  private flushScheduled = false;
  private readonly opts: HubOptions;

  constructor(opts: HubOptions) {
    this.opts = opts;
  }

  /** Called by sessions when they first queue a frame in a tick. */
  readonly schedule = (session: Session): void => {
    this.dirty.push(session);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const sessions = this.dirty;
    this.dirty = [];
    for (const session of sessions) {
      let queued: number;
      try {
        queued = session.flush();
      } catch (err) {
        // One socket that fails to take a write must not keep the rest of the tick from theirs.
        this.opts.log.error({ err, session: session.id }, 'flush failed; closing the connection');
        session.ws.terminate();
        continue;
      }
      if (queued > this.opts.maxSendBufferBytes) this.opts.onSlowConsumer(session, queued);
    }
  };

  get channelCount(): number {
    return this.channels.size;
  }

  publication(channel: string, publication: Publication): void {
    const state = this.channels.get(channel);
    if (state === undefined) return;
    state.offset = publication.offset;
    let frame: Buffer | undefined;
    let delivered = 0;
    for (const sub of state.subscribers.values()) {
      if (sub.pending !== null) {
        sub.pending.push(publication);
        continue;
      }
      if (publication.offset <= sub.pos) continue;
      sub.pos = publication.offset;
      frame ??= textFrame(publication.payload);
      sub.session.enqueue(frame);
      delivered++;
    }
    if (delivered > 0) this.opts.metrics.delivered.inc(delivered);
  }

  reset(channel: string, position: Position): void {
    const state = this.channels.get(channel);
    if (state === undefined) return;
    const reason = position.epoch === state.epoch ? 'too_old' : 'epoch_changed';
    this.opts.log.warn(
      { channel, reason, epoch: position.epoch, offset: position.offset },
      'channel position reset',
    );
    state.epoch = position.epoch;
    state.offset = position.offset;
    for (const sub of state.subscribers.values()) {
      if (sub.pending !== null) {
        // Its history read (or subscribe) may answer from before the loss: whatever it returns,
        // the client is told it missed publications and goes live from the reset, with the
        // publications that came after it. Held publications of the old epoch are void.
        sub.pending = [];
        sub.resetDuring = { position, reason };
        continue;
      }
      sub.pos = position.offset;
      sub.session.reply({
        op: 'subscribed',
        channel,
        epoch: position.epoch,
        offset: position.offset,
        recovered: false,
        reason,
      });
    }
  }

  async subscribe(session: Session, req: SubscribeRequest): Promise<void> {
    const { channel, id } = req;
    const withId = id === undefined ? {} : { id };
    if (!channelAllowed(session.claims, channel)) {
      this.opts.metrics.protocolErrors.inc({ code: 'forbidden' });
      session.reply({
        op: 'error',
        code: 'forbidden',
        message: 'token does not allow this channel',
        channel,
        ...withId,
      });
      return;
    }
    const existing = this.channels.get(channel)?.subscribers.get(session);
    if (existing !== undefined && existing.pending === null) {
      const state = this.channels.get(channel) as ChannelState;
      session.reply({
        op: 'subscribed',
        channel,
        epoch: state.epoch,
        offset: existing.pos,
        recovered: true,
        ...withId,
      });
      return;
    }
    if (existing !== undefined) return; // already being set up; its reply is coming
    session.channels ??= new Set();
    if (session.channels.size >= this.opts.maxChannelsPerConnection) {
      this.opts.metrics.protocolErrors.inc({ code: 'too_many_channels' });
      session.reply({
        op: 'error',
        code: 'too_many_channels',
        message: `at most ${this.opts.maxChannelsPerConnection} subscriptions per connection`,
        channel,
        ...withId,
      });
      return;
    }
    const state = this.channelState(channel);
    const sub: Subscriber = { session, pos: 0, pending: [] };
    state.subscribers.set(session, sub);
    session.channels.add(channel);
    try {
      await state.ready;
    } catch (err) {
      if (state.subscribers.get(session) !== sub) return;
      this.opts.log.warn({ err, channel }, 'subscribe failed');
      this.remove(session, channel);
      session.reply({
        op: 'error',
        code: 'subscribe_failed',
        message: 'broker unavailable, retry',
        channel,
        ...withId,
      });
      return;
    }
    if (state.subscribers.get(session) !== sub) return;
    if (this.liveAfterReset(state, sub, channel, withId)) return;
    if (req.since === undefined) {
      this.goLive(state, sub, channel, state.offset, { epoch: state.epoch, recovered: true, ...withId });
      return;
    }
    let history: Awaited<ReturnType<Broker['history']>>;
    try {
      history = await this.opts.broker.history(channel, req.since, req.epoch);
    } catch (err) {
      if (state.subscribers.get(session) !== sub) return;
      this.opts.log.warn({ err, channel }, 'history read failed');
      this.opts.metrics.recoveries.inc({ result: 'unavailable' });
      this.goLive(state, sub, channel, state.offset, {
        epoch: state.epoch,
        recovered: false,
        reason: 'unavailable',
        ...withId,
      });
      return;
    }
    if (state.subscribers.get(session) !== sub) return;
    if (this.liveAfterReset(state, sub, channel, withId)) return;
    if (!history.recovered) {
      this.opts.metrics.recoveries.inc({ result: history.reason });
      this.goLive(state, sub, channel, state.offset, {
        epoch: state.epoch,
        recovered: false,
        reason: history.reason,
        ...withId,
      });
      return;
    }
    this.opts.metrics.recoveries.inc({ result: 'recovered' });
    session.reply({
      op: 'subscribed',
      channel,
      epoch: history.position.epoch,
      offset: req.since,
      recovered: true,
      ...withId,
    });
    sub.pos = req.since;
    await this.replay(sub, history.publications);
    if (state.subscribers.get(session) !== sub) return;
    this.release(sub);
  }

  /**
   * Hands the replay to the socket a page at a time, each once the socket has taken the one
   * before, so a replay larger than the send buffer never counts as a slow consumer. Live
   * publications wait in `pending` meanwhile and follow the replay.
   */
  private async replay(sub: Subscriber, publications: readonly Publication[]): Promise<void> {
    const pageBytes = Math.max(1, Math.floor(this.opts.maxSendBufferBytes / 4));
    let i = 0;
    while (i < publications.length) {
      let bytes = 0;
      while (i < publications.length && bytes < pageBytes) {
        const publication = publications[i++] as Publication;
        bytes += publication.payload.length;
        this.deliverTo(sub, publication);
      }
      if (i < publications.length && !(await this.drained(sub.session, pageBytes))) return;
    }
  }

  /** Resolves true once the session's queue is flushed and its socket holds at most `bytes`; false if it closed. */
  private async drained(session: Session, bytes: number): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve)); // the flush of this tick runs first
    const socket = session.socket;
    while (session.open && socket.writableLength > bytes) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        socket.on('drain', done);
        socket.on('close', done);
      });
    }
    return session.open;
  }

  /** When the channel was reset during set-up, goes live from the reset and says so. */
  private liveAfterReset(
    state: ChannelState,
    sub: Subscriber,
    channel: string,
    withId: Record<string, unknown>,
  ): boolean {
    const reset = sub.resetDuring;
    if (reset === undefined) return false;
    sub.resetDuring = undefined;
    this.opts.metrics.recoveries.inc({ result: reset.reason });
    this.goLive(state, sub, channel, reset.position.offset, {
      recovered: false,
      reason: reset.reason,
      ...withId,
    });
    return true;
  }

  /** Tells the client where it starts and lets it take live publications from there on. */
  private goLive(
    state: ChannelState,
    sub: Subscriber,
    channel: string,
    offset: number,
    fields: Record<string, unknown>,
  ): void {
    sub.session.reply({ op: 'subscribed', channel, ...fields, epoch: state.epoch, offset });
    sub.pos = offset;
    this.release(sub);
  }

  private release(sub: Subscriber): void {
    const pending = sub.pending ?? [];
    sub.pending = null;
    for (const publication of pending) this.deliverTo(sub, publication);
  }

  private deliverTo(sub: Subscriber, publication: Publication): void {
    if (publication.offset <= sub.pos) return;
    sub.pos = publication.offset;
    sub.session.enqueue(textFrame(publication.payload));
    this.opts.metrics.delivered.inc();
  }

  private channelState(channel: string): ChannelState {
    const found = this.channels.get(channel);
    if (found !== undefined) return found;
    const state: ChannelState = {
      subscribers: new Map(),
      epoch: '',
      offset: 0,
      ready: this.opts.broker.subscribe(channel).then((position) => {
        state.epoch = position.epoch;
        state.offset = position.offset;
        return position;
      }),
    };
    // A failed subscribe is reported to each waiting client; keep it from being unhandled.
    state.ready.catch(() => {
      if (this.channels.get(channel) === state) this.channels.delete(channel);
    });
    this.channels.set(channel, state);
    this.opts.metrics.channels.set(this.channels.size);
    return state;
  }

  unsubscribe(session: Session, channel: string, id?: RequestId): void {
    this.remove(session, channel);
    session.reply({ op: 'unsubscribed', channel, ...(id === undefined ? {} : { id }) });
  }

  /** Drops every subscription of a closed session. */
  removeSession(session: Session): void {
    if (session.channels === undefined) return;
    for (const channel of session.channels) this.remove(session, channel);
  }

  private remove(session: Session, channel: string): void {
    session.channels?.delete(channel);
    const state = this.channels.get(channel);
    if (state === undefined || !state.subscribers.delete(session)) return;
    if (state.subscribers.size > 0) return;
    this.channels.delete(channel);
    this.opts.metrics.channels.set(this.channels.size);
    this.opts.broker.unsubscribe(channel).catch((err: unknown) => {
      this.opts.log.warn({ err, channel }, 'broker unsubscribe failed');
    });
  }

  publish(channel: string, data: string, idempotencyKey?: string): Promise<Published> {
    return this.opts.broker.publish(channel, data, idempotencyKey);
  }
}
