/**
 * The broker of a node that runs alone (no --redis-url): history in memory, bounded like Redis
 * bounds it. Per channel, the publications live `historyTtlMs` after the last one (at most
 * `historySize` of them); the epoch and the offset counter live EPOCH_RETENTION_TTLS times as
 * long, then the channel is forgotten. Each channel has its own epoch, so a forgotten channel
 * restarts its offsets in a new epoch and no client can mistake them for the old ones. A restart
 * loses everything, and every channel gets a new epoch.
 */
import { randomBytes } from 'node:crypto';
import { WsfleetError } from '../shared/errors.ts';
import {
  type Broker,
  type BrokerListener,
  encodeMessage,
  type HistoryResult,
  IDEMPOTENCY_WINDOW_MS,
  type Position,
  type Publication,
} from './broker.ts';

export interface HistoryLimits {
  /** Publications kept per channel. */
  readonly historySize: number;
  /** How long a channel's history lives after its last publication. */
  readonly historyTtlMs: number;
}

/**
 * How many history TTLs a channel's epoch and offset counter outlive its last publication. An
 * idle channel whose history expired keeps numbering where it stopped (clients resuming from an
 * old offset are told `too_old`, not `epoch_changed`); only a channel idle this long starts over.
 */
export const EPOCH_RETENTION_TTLS = 24;

/** How long a channel's epoch and counter live after its last publication. */
export function epochRetentionMs(limits: HistoryLimits): number {
  return limits.historyTtlMs * EPOCH_RETENTION_TTLS;
}

interface ChannelLog {
  readonly epoch: string;
  offset: number;
  publications: Publication[];
  lastAt: number;
  /** Idempotency keys of the last IDEMPOTENCY_WINDOW_MS, oldest first. */
  keys: Map<string, { readonly position: Position; readonly at: number }>;
}

export interface MemoryBroker extends Broker {
  /** Channels whose epoch and counter are held (what memory grows with). */
  readonly channelCount: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export function createMemoryBroker(limits: HistoryLimits, now: () => number = Date.now): MemoryBroker {
  // Ordered by last publication (a publication moves its channel to the end), so the channels to
  // forget are always at the front: each call forgets what expired without scanning the rest.
  const logs = new Map<string, ChannelLog>();
  const subscribed = new Set<string>();
  const retentionMs = epochRetentionMs(limits);
  let listener: BrokerListener | undefined;
  let closed = false;

  function forgetExpired(at: number): void {
    for (const [channel, entry] of logs) {
      if (at - entry.lastAt <= retentionMs) return;
      logs.delete(channel);
    }
  }

  /** The channel's log, created (as Redis creates the epoch on a position read) when missing. */
  function log(channel: string): ChannelLog {
    const at = now();
    forgetExpired(at);
    let entry = logs.get(channel);
    if (entry === undefined) {
      entry = { epoch: newEpoch(), offset: 0, publications: [], lastAt: at, keys: new Map() };
      logs.set(channel, entry);
      // A subscribed channel forgotten while idle starts over in a new epoch: say so, as the
      // Redis broker does when it finds another epoch.
      if (subscribed.has(channel)) listener?.reset(channel, { epoch: entry.epoch, offset: 0 });
    } else if (at - entry.lastAt > limits.historyTtlMs) {
      // Expired like the Redis stream: the publications go, the epoch and counter stay.
      entry.publications = [];
    }
    return entry;
  }

  function ensureOpen(): void {
    if (closed) throw new WsfleetError('WSFLEET_BROKER_CLOSED', 'broker is closed');
  }

  return {
    get channelCount() {
      return logs.size;
    },
    async start(l) {
      listener = l;
      l.health?.(true);
    },
    async publish(channel, data, idempotencyKey) {
      ensureOpen();
      const entry = log(channel);
      const at = now();
      for (const [key, seen] of entry.keys) {
        if (at - seen.at <= IDEMPOTENCY_WINDOW_MS) break;
        entry.keys.delete(key);
      }
      const seen = idempotencyKey === undefined ? undefined : entry.keys.get(idempotencyKey);
      if (seen !== undefined) return { ...seen.position, duplicate: true };
      const offset = ++entry.offset;
      const publication: Publication = { channel, offset, payload: encodeMessage(channel, data, offset) };
      entry.lastAt = now();
      logs.delete(channel);
      logs.set(channel, entry);
      entry.publications.push(publication);
      if (entry.publications.length > limits.historySize)
        entry.publications.splice(0, entry.publications.length - limits.historySize);
      const position = { epoch: entry.epoch, offset };
      if (idempotencyKey !== undefined) entry.keys.set(idempotencyKey, { position, at });
      if (subscribed.has(channel)) listener?.publication(channel, publication);
      return position;
    },
    async subscribe(channel) {
      ensureOpen();
      const entry = log(channel);
      subscribed.add(channel);
      return { epoch: entry.epoch, offset: entry.offset };
    },
    async unsubscribe(channel) {
      subscribed.delete(channel);
    },
    async history(channel, since, wanted): Promise<HistoryResult> {
      ensureOpen();
      const entry = log(channel);
      const position: Position = { epoch: entry.epoch, offset: entry.offset };
      if (wanted !== undefined && wanted !== entry.epoch)
        return { recovered: false, reason: 'epoch_changed', position };
      const publications = entry.publications;
      const first = publications[0]?.offset ?? position.offset + 1;
      if (since > position.offset) return { recovered: false, reason: 'epoch_changed', position };
      if (since + 1 < first) return { recovered: false, reason: 'too_old', position };
      return { recovered: true, position, publications: publications.slice(since + 1 - first) };
    },
    healthy() {
      return !closed;
    },
    async close() {
      closed = true;
      subscribed.clear();
    },
  };
}
