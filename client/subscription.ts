/**
 * One channel subscription: where it stands (epoch and offset of the last message), its events,
 * and an async iterator of its messages. The client resubscribes it from that position after
 * every reconnect, and drops messages it has already seen, so a resume never repeats one.
 */
import { Emitter } from './emitter.ts';
import type { WsfleetError } from './errors.ts';

export interface Message {
  readonly channel: string;
  readonly data: unknown;
  /** Position in the channel: grows by one per publication within an epoch. */
  readonly offset: number;
  readonly epoch: string;
}

export interface Position {
  readonly epoch: string;
  readonly offset: number;
}

/**
 * Publications were missed and will not be replayed: `too_old` (beyond the server's history),
 * `epoch_changed` (the history was lost), `unavailable` (Redis unreachable), or `gap` (offsets
 * skipped on a live connection). Delivery continues from `offset`; reload state from your backend.
 */
export interface Missed {
  readonly channel: string;
  readonly reason: string;
  readonly epoch: string;
  readonly offset: number;
}

export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed' | 'failed';

export interface SubscriptionEvents {
  /** The subscription is live from this position; `recovered` is true when nothing was missed. */
  subscribed: {
    readonly channel: string;
    readonly epoch: string;
    readonly offset: number;
    readonly recovered: boolean;
  };
  message: Message;
  missed: Missed;
  /** The server refused the subscription (`forbidden`, `too_many_channels`, …); it is over. */
  error: WsfleetError;
  unsubscribed: { readonly channel: string };
}

/** What a subscription needs from its client. */
export interface SubscriptionHost {
  unsubscribe(subscription: Subscription): void;
}

export class Subscription extends Emitter<SubscriptionEvents> implements AsyncIterable<Message> {
  readonly channel: string;
  #state: SubscriptionState = 'subscribing';
  #position: Position | undefined;
  readonly #host: SubscriptionHost;
  readonly #iterators = new Set<{ queue: Message[]; wake: (() => void) | undefined }>();

  /** @internal Made by `client.subscribe`. */
  constructor(channel: string, position: Position | undefined, host: SubscriptionHost) {
    super();
    this.channel = channel;
    this.#position = position;
    this.#host = host;
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** Epoch and offset of the last message seen (or where the subscription went live); store it to resume later. */
  get position(): Position | undefined {
    return this.#position;
  }

  /** Stops the subscription; iterators end after the messages they already hold. */
  unsubscribe(): void {
    if (this._end('unsubscribed')) this.#host.unsubscribe(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    const reader = { queue: [] as Message[], wake: undefined as (() => void) | undefined };
    this.#iterators.add(reader);
    const done = (): IteratorResult<Message> => {
      this.#iterators.delete(reader);
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        for (;;) {
          const message = reader.queue.shift();
          if (message !== undefined) return { done: false, value: message };
          if (this.#over) return done();
          await new Promise<void>((resolve) => {
            reader.wake = resolve;
          });
          reader.wake = undefined;
        }
      },
      return: async () => done(),
    };
  }

  /** @internal The frame to send to (re)subscribe: from the last position when there is one. */
  _subscribeFrame(id: number): Record<string, unknown> {
    const p = this.#position;
    return p === undefined
      ? { op: 'subscribe', channel: this.channel, id }
      : { op: 'subscribe', channel: this.channel, since: p.offset, epoch: p.epoch, id };
  }

  /** @internal The connection dropped: the subscription waits to be resumed. */
  _suspend(): void {
    if (this.#state === 'subscribed') this.#state = 'subscribing';
  }

  /** @internal A `subscribed` frame for this channel. */
  _subscribed(epoch: string, offset: number, recovered: boolean, reason: string | undefined): void {
    if (this.#over) return;
    this.#state = 'subscribed';
    this.#position = { epoch, offset };
    if (!recovered)
      this.emit('missed', { channel: this.channel, reason: reason ?? 'unknown', epoch, offset });
    this.emit('subscribed', { channel: this.channel, epoch, offset, recovered });
  }

  /** @internal A `message` frame for this channel. */
  _message(data: unknown, offset: number): void {
    if (this.#state !== 'subscribed') return;
    const p = this.#position;
    if (p === undefined) return;
    if (offset <= p.offset) return; // already delivered before a resume
    if (offset > p.offset + 1) {
      this.emit('missed', { channel: this.channel, reason: 'gap', epoch: p.epoch, offset: offset - 1 });
    }
    this.#position = { epoch: p.epoch, offset };
    const message: Message = { channel: this.channel, data, offset, epoch: p.epoch };
    for (const reader of this.#iterators) {
      reader.queue.push(message);
      reader.wake?.();
    }
    this.emit('message', message);
  }

  /** @internal The server refused the subscription for good. */
  _fail(error: WsfleetError): void {
    if (this._end('failed')) this.emit('error', error);
  }

  /** @internal Ends the subscription (unsubscribe, failure or client close). */
  _end(state: 'unsubscribed' | 'failed'): boolean {
    if (this.#over) return false;
    this.#state = state;
    for (const reader of this.#iterators) reader.wake?.();
    if (state === 'unsubscribed') this.emit('unsubscribed', { channel: this.channel });
    return true;
  }

  get #over(): boolean {
    return this.#state === 'unsubscribed' || this.#state === 'failed';
  }
}
