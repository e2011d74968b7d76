/**
 * The client protocol on /ws: JSON text frames, one message per frame.
 * client → server: subscribe, unsubscribe, publish, ping.
 * server → client: welcome, subscribed, unsubscribed, ack, pong, message, error.
 * README "Protocol" documents every field; this file is the one parser of client frames.
 */
import { exceedsDepth, MAX_DATA_DEPTH } from './json-depth.ts';

/** Error codes in `{"op":"error"}` frames (README lists them; a test keeps both in step). */
export const PROTOCOL_ERRORS = {
  bad_json: 'The frame is not valid JSON.',
  bad_frame: 'The frame is not a JSON object with a string "op", or a field has the wrong type.',
  binary_not_supported: 'Binary frames are not part of the protocol.',
  unknown_op: 'The "op" is none of subscribe, unsubscribe, publish, ping, refresh.',
  bad_token:
    'The refresh token is missing, malformed, badly signed, expired, for another subject, or this node takes no tokens.',
  bad_channel: 'The channel name is empty, too long or has characters outside [A-Za-z0-9_.:@/=-].',
  rate_limited: 'Too many frames; this one was dropped. Slow down.',
  too_many_channels: 'The connection already has as many subscriptions as allowed.',
  forbidden: 'The connection token does not allow this channel.',
  data_too_deep: `The publication's "data" nests deeper than ${MAX_DATA_DEPTH} levels.`,
  publish_failed:
    'The node could not confirm the publication (Redis unreachable or slower than 2 s); it may still have been stored. Retry with the same idempotencyKey.',
  publish_disabled: 'Clients may not publish on this node.',
  subscribe_failed: 'The broker could not be reached to set up the subscription. Retry.',
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

export type RequestId = string | number;

export type ClientOp =
  | { op: 'subscribe'; channel: string; since?: number; epoch?: string; id?: RequestId }
  | { op: 'unsubscribe'; channel: string; id?: RequestId }
  | { op: 'publish'; channel: string; data: string; idempotencyKey?: string; id?: RequestId }
  | { op: 'ping'; id?: RequestId }
  | { op: 'refresh'; token: string; id?: RequestId };

export type ParseResult =
  | { ok: true; value: ClientOp }
  | { ok: false; code: ProtocolErrorCode; message: string; id?: RequestId };

const CHANNEL = /^[A-Za-z0-9_.:@/=-]{1,200}$/;

export function isValidChannel(channel: unknown): channel is string {
  return typeof channel === 'string' && CHANNEL.test(channel);
}

/** An idempotency key of a publish: 1 to 64 characters. */
export function isIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 64;
}

const MAX_TOKEN_LENGTH = 8192;

function requestId(value: unknown): RequestId | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value.length <= 64) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  return null;
}

function fail(code: ProtocolErrorCode, message: string, id?: RequestId): ParseResult {
  return id === undefined ? { ok: false, code, message } : { ok: false, code, message, id };
}

/** Parses one client text frame. `data` of a publish stays JSON text, re-encoded once. */
export function parseClientFrame(text: string): ParseResult {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return fail('bad_json', 'frame is not valid JSON');
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return fail('bad_frame', 'frame must be a JSON object');
  }
  const f = frame as Record<string, unknown>;
  const id = requestId(f.id);
  if (id === null) return fail('bad_frame', '"id" must be a string of at most 64 characters or an integer');
  if (typeof f.op !== 'string') return fail('bad_frame', 'frame needs a string "op"', id);
  switch (f.op) {
    case 'ping':
      return { ok: true, value: { op: 'ping', ...(id === undefined ? {} : { id }) } };
    case 'refresh':
      if (typeof f.token !== 'string' || f.token === '' || f.token.length > MAX_TOKEN_LENGTH) {
        return fail('bad_token', `"token" must be a token of at most ${MAX_TOKEN_LENGTH} characters`, id);
      }
      return { ok: true, value: { op: 'refresh', token: f.token, ...(id === undefined ? {} : { id }) } };
    case 'subscribe':
    case 'unsubscribe':
    case 'publish': {
      if (!isValidChannel(f.channel)) {
        return fail('bad_channel', `"channel" must match ${CHANNEL.source}`, id);
      }
      const base = { channel: f.channel, ...(id === undefined ? {} : { id }) };
      if (f.op === 'unsubscribe') return { ok: true, value: { op: 'unsubscribe', ...base } };
      if (f.op === 'publish') {
        if (!('data' in f) || f.data === undefined) return fail('bad_frame', 'publish needs "data"', id);
        if (exceedsDepth(f.data, MAX_DATA_DEPTH)) {
          return fail('data_too_deep', `"data" may nest at most ${MAX_DATA_DEPTH} levels deep`, id);
        }
        const key = f.idempotencyKey;
        if (key !== undefined && !isIdempotencyKey(key)) {
          return fail('bad_frame', '"idempotencyKey" must be a string of 1 to 64 characters', id);
        }
        const data = JSON.stringify(f.data);
        return {
          ok: true,
          value: { op: 'publish', ...base, data, ...(key === undefined ? {} : { idempotencyKey: key }) },
        };
      }
      const since = f.since;
      if (since !== undefined && !(typeof since === 'number' && Number.isSafeInteger(since) && since >= 0)) {
        return fail('bad_frame', '"since" must be a non-negative integer offset', id);
      }
      const epoch = f.epoch;
      if (epoch !== undefined && !(typeof epoch === 'string' && epoch.length <= 64)) {
        return fail('bad_frame', '"epoch" must be a string', id);
      }
      // An offset means something only in its epoch: without it a resume could cross an epoch
      // (history lost, offsets restarted) and skip what the new epoch published.
      if (since !== undefined && epoch === undefined) {
        return fail('bad_frame', '"since" needs the "epoch" it came with', id);
      }
      return {
        ok: true,
        value: {
          op: 'subscribe',
          ...base,
          ...(since === undefined ? {} : { since }),
          ...(epoch === undefined ? {} : { epoch }),
        },
      };
    }
    default:
      return fail('unknown_op', `unknown op ${JSON.stringify(f.op).slice(0, 40)}`, id);
  }
}
