/**
 * The broker of a node that runs alone (no --redis-url): history in memory, bounded by count and
 * age. A restart loses the history, so every start picks a new epoch.
 */
import { randomBytes } from 'node:crypto';
import { WsfleetError } from '../shared/errors.ts';
import {
  type Broker,
  type BrokerListener,
  encodeMessage,
  type HistoryResult,
  type Position,
  type Publication,
} from './broker.ts';

export interface HistoryLimits {
  /** Publications kept per channel. */
  readonly historySize: number;
  /** How long a channel's history lives after its last publication. */
  readonly historyTtlMs: number;
}

interface Entry {
  readonly publication: Publication;
  readonly at: number;
}

interface ChannelLog {
  offset: number;
  entries: Entry[];
  lastAt: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export function createMemoryBroker(limits: HistoryLimits, now: () => number = Date.now): Broker {
  const epoch = newEpoch();
  const logs = new Map<string, ChannelLog>();
  const subscribed = new Set<string>();
  let listener: BrokerListener | undefined;
  let closed = false;

  function log(channel: string): ChannelLog | undefined {
    const entry = logs.get(channel);
    if (entry !== undefined && now() - entry.lastAt > limits.historyTtlMs) {
      // Expired like a Redis key with a TTL: offsets restart, so the epoch of this channel must
      // differ. One broker-wide epoch cannot, so expiry keeps the counter and drops the entries.
      entry.entries = [];
    }
    return entry;
  }

  function ensureOpen(): void {
    if (closed) throw new WsfleetError('WSFLEET_BROKER_CLOSED', 'broker is closed');
  }

  return {
    async start(l) {
      listener = l;
      l.health?.(true);
    },
    async publish(channel, data) {
      ensureOpen();
      let entry = log(channel);
      if (entry === undefined) {
        entry = { offset: 0, entries: [], lastAt: now() };
        logs.set(channel, entry);
      }
      const offset = ++entry.offset;
      const publication: Publication = { channel, offset, payload: encodeMessage(channel, data, offset) };
      entry.lastAt = now();
      entry.entries.push({ publication, at: entry.lastAt });
      if (entry.entries.length > limits.historySize)
        entry.entries.splice(0, entry.entries.length - limits.historySize);
      if (subscribed.has(channel)) listener?.publication(channel, publication);
      return { epoch, offset };
    },
    async subscribe(channel) {
      ensureOpen();
      subscribed.add(channel);
      return { epoch, offset: log(channel)?.offset ?? 0 };
    },
    async unsubscribe(channel) {
      subscribed.delete(channel);
    },
    async history(channel, since, wanted): Promise<HistoryResult> {
      ensureOpen();
      const entry = log(channel);
      const position: Position = { epoch, offset: entry?.offset ?? 0 };
      if (wanted !== undefined && wanted !== epoch)
        return { recovered: false, reason: 'epoch_changed', position };
      const entries = entry?.entries ?? [];
      const first = entries[0]?.publication.offset ?? position.offset + 1;
      if (since > position.offset) return { recovered: false, reason: 'epoch_changed', position };
      if (since + 1 < first) return { recovered: false, reason: 'too_old', position };
      return {
        recovered: true,
        position,
        publications: entries.slice(since + 1 - first).map((e) => e.publication),
      };
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
