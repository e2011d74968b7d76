/**
 * Publishes waiting for their ack. A publish made while disconnected waits for the next
 * connection. One sent on a connection that drops is sent again on the next only when both
 * servers deduplicate by idempotency key (the `idempotency` feature): the server then answers
 * the retry with the first result and delivers the message once. Otherwise it is rejected with
 * `disconnected`, because a retry could deliver it twice.
 */
import type { Clock } from './clock.ts';
import { clientError, type WsfleetError } from './errors.ts';
import type { RequestId, WelcomeFrame } from './frames.ts';

export interface PublishOptions {
  /** Overrides `publishTimeoutMs` for this publish. */
  readonly timeoutMs?: number;
}

export interface PublishResult {
  readonly channel: string;
  /** The publication's offset in the channel. */
  readonly offset: number;
}

interface Entry {
  readonly id: number;
  readonly channel: string;
  readonly data: unknown;
  readonly key: string;
  /** undefined: not on the wire of the current connection; else whether it carried the key. */
  sentWithKey: boolean | undefined;
  readonly resolve: (result: PublishResult) => void;
  readonly reject: (error: WsfleetError) => void;
  readonly timer: unknown;
}

export interface PublisherDeps {
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly nextId: () => number;
  /** Sends a frame on the current connection; false when there is none. */
  readonly send: (frame: Record<string, unknown>) => boolean;
}

/** 128 random bits as 32 hex characters, within the protocol's 1–64 (Web Crypto: browsers and Node ≥ 20). */
function idempotencyKey(): string {
  const bytes = (
    globalThis as unknown as { crypto: { getRandomValues(a: Uint8Array): Uint8Array } }
  ).crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

const idempotent = (welcome: WelcomeFrame | undefined) => welcome?.features.includes('idempotency') === true;

export class Publisher {
  readonly #entries = new Map<RequestId, Entry>();

  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #nextId: () => number;
  readonly #send: (frame: Record<string, unknown>) => boolean;

  constructor(deps: PublisherDeps) {
    this.#clock = deps.clock;
    this.#timeoutMs = deps.timeoutMs;
    this.#nextId = deps.nextId;
    this.#send = deps.send;
  }

  publish(
    channel: string,
    data: unknown,
    options: PublishOptions,
    welcome: WelcomeFrame | undefined,
  ): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      const id = this.#nextId();
      const timer = this.#clock.setTimeout(() => {
        if (this.#entries.delete(id)) reject(clientError('timeout', { channel }));
      }, options.timeoutMs ?? this.#timeoutMs);
      const entry: Entry = {
        id,
        channel,
        data,
        key: idempotencyKey(),
        sentWithKey: undefined,
        resolve,
        reject,
        timer,
      };
      this.#entries.set(id, entry);
      if (welcome !== undefined) this.#transmit(entry, welcome);
    });
  }

  #transmit(entry: Entry, welcome: WelcomeFrame): void {
    const withKey = idempotent(welcome);
    const frame: Record<string, unknown> = {
      op: 'publish',
      channel: entry.channel,
      data: entry.data,
      id: entry.id,
    };
    if (withKey) frame.idempotencyKey = entry.key;
    if (this.#send(frame)) entry.sentWithKey = withKey;
  }

  #settle(id: RequestId): Entry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    this.#entries.delete(id);
    this.#clock.clearTimeout(entry.timer);
    return entry;
  }

  ack(id: RequestId, channel: string, offset: number): void {
    this.#settle(id)?.resolve({ channel, offset });
  }

  /** Rejects the publish with this id; false when the id is not a pending publish. */
  fail(id: RequestId, error: WsfleetError): boolean {
    const entry = this.#settle(id);
    entry?.reject(error);
    return entry !== undefined;
  }

  /** A new connection: sends what waits, and retries what the old one may have lost. */
  resume(welcome: WelcomeFrame): void {
    for (const entry of this.#entries.values()) {
      if (entry.sentWithKey === undefined) this.#transmit(entry, welcome);
    }
  }

  /** The connection dropped. */
  suspend(): void {
    for (const entry of [...this.#entries.values()]) {
      if (entry.sentWithKey === undefined) continue;
      if (entry.sentWithKey) {
        entry.sentWithKey = undefined;
        continue;
      }
      this.#settle(entry.id)?.reject(clientError('disconnected', { channel: entry.channel }));
    }
  }

  closeAll(error: WsfleetError): void {
    for (const id of [...this.#entries.keys()]) this.#settle(id)?.reject(error);
  }
}
