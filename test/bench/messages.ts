/** The messages between the bench runner and its client worker processes (Node IPC). */
import type { DialectName } from './dialects.ts';
import type { HistogramData } from './histogram.ts';

/** Which node of a two-node cluster a connection talks to. */
export type NodeLabel = 'A' | 'B';

export interface Target {
  readonly url: string;
  readonly node: NodeLabel;
  readonly count: number;
}

export type ToSubscriber =
  /** Opens connections; with a channel each one subscribes to it, otherwise they stay idle. */
  | {
      readonly type: 'open';
      readonly dialect: DialectName;
      readonly targets: readonly Target[];
      readonly channel: string | null;
      readonly concurrency: number;
      readonly localAddress: string | null;
    }
  | { readonly type: 'counts'; readonly id: number }
  /** `on` resets and starts recording latencies; `off` stops and replies with the histograms. */
  | { readonly type: 'latency'; readonly on: boolean }
  /** Starts reporting the smallest per-connection delivery count every `intervalMs`. */
  | { readonly type: 'progress'; readonly intervalMs: number }
  | { readonly type: 'close' };

export type FromSubscriber =
  | { readonly type: 'opened'; readonly opened: number; readonly failed: number; readonly firstError: string }
  /** Deliveries so far per node, and ready connections the server has dropped. */
  | {
      readonly type: 'counts';
      readonly id: number;
      readonly A: number;
      readonly B: number;
      readonly lost: number;
    }
  | { readonly type: 'latency'; readonly A: HistogramData; readonly B: HistogramData }
  | { readonly type: 'progress'; readonly min: number }
  | { readonly type: 'closed' };

export type ToPublisher =
  | {
      readonly type: 'open';
      readonly dialect: DialectName;
      readonly url: string;
      readonly connections: number;
      readonly channel: string;
      readonly payloadBytes: number;
    }
  /** Closed loop: keeps at most `window` publications ahead of the slowest subscriber. */
  | { readonly type: 'saturate'; readonly window: number }
  /** Open loop at a fixed rate, whatever the deliveries. */
  | { readonly type: 'rate'; readonly perSecond: number }
  /** Flow-control feedback: every subscriber has received at least `min` publications. */
  | { readonly type: 'delivered'; readonly min: number }
  | { readonly type: 'counts'; readonly id: number }
  | { readonly type: 'stop' }
  | { readonly type: 'close' };

export interface PublisherCounts {
  readonly published: number;
  readonly acked: number;
  readonly errors: number;
  readonly firstError: string;
  /** Times the closed loop saw no progress for a while and wrote its window off as lost. */
  readonly stalls: number;
}

export type FromPublisher =
  | { readonly type: 'opened'; readonly opened: number; readonly failed: number; readonly firstError: string }
  | ({ readonly type: 'counts'; readonly id: number } & PublisherCounts)
  | ({ readonly type: 'stopped' } & PublisherCounts)
  | { readonly type: 'closed' };
