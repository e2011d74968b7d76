/**
 * The frames of the /ws protocol as the client sees them (README "Protocol"), and the one parser
 * of server frames. A frame that does not fit is dropped rather than trusted: a broken or
 * hostile server cannot make the client throw.
 */

/** Error codes the server puts in `{"op":"error"}` frames. */
export type ServerErrorCode =
  | 'bad_json'
  | 'bad_frame'
  | 'binary_not_supported'
  | 'unknown_op'
  | 'bad_channel'
  | 'rate_limited'
  | 'too_many_channels'
  | 'forbidden'
  | 'publish_failed'
  | 'publish_disabled'
  | 'subscribe_failed'
  | 'bad_token';

/** Optional server capabilities announced in the welcome frame. */
export type Feature = 'idempotency' | 'refresh';

export type RequestId = string | number;

export interface WelcomeFrame {
  readonly op: 'welcome';
  readonly node: string;
  readonly session: string;
  readonly version: string | undefined;
  readonly sub: string | undefined;
  /** Seconds between pings the server expects to be able to send. */
  readonly pingInterval: number | undefined;
  readonly features: readonly string[];
}

export interface SubscribedFrame {
  readonly op: 'subscribed';
  readonly channel: string;
  readonly epoch: string;
  readonly offset: number;
  readonly recovered: boolean;
  readonly reason: string | undefined;
  readonly id: RequestId | undefined;
}

export interface MessageFrame {
  readonly op: 'message';
  readonly channel: string;
  readonly data: unknown;
  readonly offset: number;
}

export interface AckFrame {
  readonly op: 'ack';
  readonly id: RequestId;
  readonly channel: string;
  readonly offset: number;
}

export interface ErrorFrame {
  readonly op: 'error';
  readonly code: string;
  readonly message: string;
  readonly id: RequestId | undefined;
  readonly channel: string | undefined;
}

export interface RefreshedFrame {
  readonly op: 'refreshed';
  readonly exp: number;
  readonly id: RequestId | undefined;
}

export type ServerFrame =
  | WelcomeFrame
  | SubscribedFrame
  | MessageFrame
  | AckFrame
  | ErrorFrame
  | RefreshedFrame
  | { readonly op: 'pong' }
  | { readonly op: 'unsubscribed'; readonly channel: string };

const CHANNEL = /^[A-Za-z0-9_.:@/=-]{1,200}$/;

export function isValidChannel(channel: unknown): channel is string {
  return typeof channel === 'string' && CHANNEL.test(channel);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const offset = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
const requestId = (v: unknown): RequestId | undefined =>
  typeof v === 'string' || (typeof v === 'number' && Number.isSafeInteger(v)) ? v : undefined;

/** Parses one server frame; null for anything that is not a well-formed frame of a known op. */
export function parseServerFrame(text: unknown): ServerFrame | null {
  if (typeof text !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const f = value as Record<string, unknown>;
  switch (f.op) {
    case 'welcome': {
      const node = str(f.node);
      const session = str(f.session);
      if (node === undefined || session === undefined) return null;
      const ping = typeof f.pingInterval === 'number' && f.pingInterval > 0 ? f.pingInterval : undefined;
      const features = Array.isArray(f.features) ? f.features.filter((x) => typeof x === 'string') : [];
      return {
        op: 'welcome',
        node,
        session,
        version: str(f.version),
        sub: str(f.sub),
        pingInterval: ping,
        features,
      };
    }
    case 'subscribed': {
      const channel = str(f.channel);
      const epoch = str(f.epoch);
      const at = offset(f.offset);
      if (channel === undefined || epoch === undefined || at === undefined) return null;
      if (typeof f.recovered !== 'boolean') return null;
      return {
        op: 'subscribed',
        channel,
        epoch,
        offset: at,
        recovered: f.recovered,
        reason: str(f.reason),
        id: requestId(f.id),
      };
    }
    case 'message': {
      const channel = str(f.channel);
      const at = offset(f.offset);
      if (channel === undefined || at === undefined || !('data' in f)) return null;
      return { op: 'message', channel, data: f.data, offset: at };
    }
    case 'ack': {
      const id = requestId(f.id);
      const channel = str(f.channel);
      const at = offset(f.offset);
      if (id === undefined || channel === undefined || at === undefined) return null;
      return { op: 'ack', id, channel, offset: at };
    }
    case 'error': {
      const code = str(f.code);
      if (code === undefined) return null;
      return {
        op: 'error',
        code,
        message: str(f.message) ?? code,
        id: requestId(f.id),
        channel: str(f.channel),
      };
    }
    case 'refreshed': {
      if (typeof f.exp !== 'number' || !Number.isFinite(f.exp)) return null;
      return { op: 'refreshed', exp: f.exp, id: requestId(f.id) };
    }
    case 'pong':
      return { op: 'pong' };
    case 'unsubscribed': {
      const channel = str(f.channel);
      return channel === undefined ? null : { op: 'unsubscribed', channel };
    }
    default:
      return null;
  }
}
