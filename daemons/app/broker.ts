/**
 * The broker carries publications between nodes and keeps each channel's bounded history.
 *
 * Contract (test/integration/broker-contract.test.ts runs it over every implementation):
 * - `publish` resolves only once the publication is durable in the broker (stored in the
 *   channel's history); otherwise it rejects, and the caller tells the publisher.
 * - Offsets are per channel, start at 1 and grow by one per publication within an epoch. The
 *   epoch is an opaque string that changes when the channel's history is lost (for example a
 *   Redis without persistence restarted), so that a position from before is never mistaken
 *   for one after.
 * - For a channel this node has subscribed to, the `publication` listener sees every
 *   publication with an offset above the position `subscribe` returned, exactly once, in offset
 *   order, with no gaps — also across a broker outage, the broker fills gaps from history. When
 *   it cannot (history trimmed or lost), it calls `reset` with a position just before the
 *   oldest publication history still holds (in the new epoch, if it changed) and continues
 *   with every publication after it.
 * - `payload` is the exact text clients receive:
 *   `{"op":"message","channel":C,"data":D,"offset":O}`, encoded once where it is published.
 */

/** How long a publish's idempotency key is remembered (README "Protocol"). */
export const IDEMPOTENCY_WINDOW_MS = 120_000;

export interface Position {
  readonly epoch: string;
  /** The offset of the newest publication in the channel; 0 when there is none. */
  readonly offset: number;
}

/** What a publish returns: where the publication is, and whether it was one made before. */
export interface Published extends Position {
  /** Present when an idempotency key seen within the window answered; nothing was published. */
  readonly duplicate?: true;
}

export interface Publication {
  readonly channel: string;
  readonly offset: number;
  /** UTF-8 JSON text of the client-facing message frame. */
  readonly payload: Buffer;
}

export type HistoryResult =
  | {
      readonly recovered: true;
      readonly position: Position;
      /** Publications with offsets above `since`, up to `position.offset`, in order. */
      readonly publications: readonly Publication[];
    }
  | {
      readonly recovered: false;
      /** `too_old`: trimmed out of the bounded history; `epoch_changed`: the history was lost. */
      readonly reason: 'too_old' | 'epoch_changed';
      readonly position: Position;
    };

export interface BrokerListener {
  publication(channel: string, publication: Publication): void;
  reset(channel: string, position: Position): void;
  /** The broker's reachability changed (drives /healthz). */
  health?(healthy: boolean): void;
}

export interface Broker {
  /** Connects; resolves when the broker can publish and subscribe. */
  start(listener: BrokerListener): Promise<void>;
  /**
   * With an idempotency key, a publish repeated on the same channel with the same key within
   * IDEMPOTENCY_WINDOW_MS returns the first one's position marked `duplicate` and publishes nothing.
   */
  publish(channel: string, data: string, idempotencyKey?: string): Promise<Published>;
  /** Resolves once live publications of `channel` flow to the listener; returns the position then. */
  subscribe(channel: string): Promise<Position>;
  unsubscribe(channel: string): Promise<void>;
  /** Publications after `since` (same `epoch` when given), up to the current position. */
  history(channel: string, since: number, epoch?: string): Promise<HistoryResult>;
  healthy(): boolean;
  /** Idempotent; pending operations reject with WSFLEET_BROKER_CLOSED. */
  close(): Promise<void>;
}

/** Builds the client-facing message text once; `data` is already JSON text. */
export function encodeMessage(channel: string, data: string, offset: number): Buffer {
  return Buffer.from(
    `{"op":"message","channel":${JSON.stringify(channel)},"data":${data},"offset":${offset}}`,
  );
}
