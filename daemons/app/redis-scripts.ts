/**
 * The Redis side of the broker: key names, the Lua scripts, and parsing what Redis sends back.
 * Kept apart from the connections (redis-connect.ts) and the recovery logic (redis-channels.ts,
 * redis-catch-up.ts).
 */
import { createHash } from 'node:crypto';
import type { Position, Published } from './broker.ts';

// Hash tags keep a channel's stream and meta in one slot, as a Redis Cluster would need.
export const streamKey = (channel: string): string => `wsfleet:{${channel}}:s`;
export const metaKey = (channel: string): string => `wsfleet:{${channel}}:m`;
export const idempotencyKey = (channel: string, key: string): string => `wsfleet:{${channel}}:i:${key}`;
export const PUBSUB_PREFIX = 'wsfleet:p:';

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

// A new epoch starts with an empty stream: entries of a lost epoch (for example a meta hash evicted
// alone) must not mix with new offsets, and XADD would refuse their ids.
const EPOCH_LUA = `
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
`;

/**
 * KEYS: stream, meta, idempotency key. ARGV: fresh epoch, epoch retention ms, history size,
 * pub/sub channel, channel JSON, data, history ttl ms, '1' when an idempotency key is given,
 * its window ms. The meta hash (epoch and counter) outlives the stream, so an idle channel whose
 * history expired keeps numbering in its epoch. A key seen within its window returns the
 * position it was published at with a third element, 1, and publishes nothing.
 */
export const PUBLISH = script(`
if ARGV[8] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {string.sub(seen, 1, sep - 1), string.sub(seen, sep + 1), 1}
  end
end
${EPOCH_LUA}
local offset = redis.call('HINCRBY', KEYS[2], 's', 1)
local payload = '{"op":"message","channel":' .. ARGV[5] .. ',"data":' .. ARGV[6] .. ',"offset":' .. offset .. '}'
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '0-' .. offset, 'd', payload)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], offset .. ':' .. epoch .. ':' .. payload)
if ARGV[8] == '1' then
  redis.call('SET', KEYS[3], epoch .. ':' .. offset, 'PX', ARGV[9])
end
return {epoch, offset}
`);

/** KEYS: stream, meta. ARGV: fresh epoch, epoch retention ms. Creating the epoch here keeps positions stable. */
export const POSITION = script(`${EPOCH_LUA}
return {epoch, redis.call('HGET', KEYS[2], 's') or '0'}
`);

/**
 * KEYS: stream, meta. ARGV: the epoch that lost writes, a fresh epoch, epoch retention ms. Moves
 * the channel to the fresh epoch (empty stream, counter kept) unless another node already did.
 */
export const ROTATE = script(`
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch or epoch == ARGV[1] then
  epoch = ARGV[2]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch)
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {epoch, redis.call('HGET', KEYS[2], 's') or '0'}
`);

export interface Live {
  readonly epoch: string;
  readonly offset: number;
  readonly payload: Buffer;
  /** Order of arrival, to tell messages received before a position read from those after it. */
  readonly seq: number;
}

/** `[epoch, offset]` as the scripts return it. */
export function toPosition(reply: unknown): Position {
  if (Array.isArray(reply) && reply.length === 2) {
    const epoch = String(reply[0]);
    const offset = Number(reply[1]);
    if (epoch !== '' && Number.isSafeInteger(offset) && offset >= 0) return { epoch, offset };
  }
  throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
}

/** `[epoch, offset]` as PUBLISH returns it, or `[epoch, offset, 1]` for a duplicate. */
export function toPublished(reply: unknown): Published {
  if (Array.isArray(reply) && reply.length === 3 && Number(reply[2]) === 1) {
    return { ...toPosition(reply.slice(0, 2)), duplicate: true };
  }
  return toPosition(reply);
}

const COLON = 0x3a;

/** `<offset>:<epoch>:<payload>`; the payload stays a view of the received bytes. */
export function parseLive(body: Buffer, seq: number): Live | undefined {
  const first = body.indexOf(COLON);
  const second = first < 0 ? -1 : body.indexOf(COLON, first + 1);
  if (second < 0) return undefined;
  const offset = Number(body.toString('latin1', 0, first));
  if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
  return {
    offset,
    epoch: body.toString('latin1', first + 1, second),
    payload: body.subarray(second + 1),
    seq,
  };
}

export type StreamEntry = [id: Buffer, fields: Buffer[]];

/** Entries carry the id `0-<offset>`. */
export function entryOffset([id]: StreamEntry): number {
  return Number(id.toString('latin1').slice(2));
}

export function entryPayload([, fields]: StreamEntry): Buffer {
  return fields[1] ?? Buffer.alloc(0);
}
