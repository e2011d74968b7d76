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

/** Field checks, by the one-letter kinds the tables below use. */
const KINDS: Record<string, (v: unknown) => boolean> = {
  s: (v) => typeof v === 'string',
  o: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  b: (v) => typeof v === 'boolean',
  n: (v) => typeof v === 'number' && Number.isFinite(v),
  p: (v) => typeof v === 'number' && v > 0 && v < 1e6,
  i: (v) => typeof v === 'string' || Number.isSafeInteger(v),
  a: (v) => v !== undefined,
  l: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
};

/** Required fields of each op the client knows; any other op is dropped. */
const REQUIRED: Record<string, string> = {
  welcome: 'node s,session s',
  subscribed: 'channel s,epoch s,offset o,recovered b',
  message: 'channel s,offset o,data a',
  ack: 'id i,channel s,offset o',
  error: 'code s',
  refreshed: 'exp n',
  pong: '',
  unsubscribed: 'channel s',
};

/** Optional fields: one of the wrong type is removed, so the typed frame never lies. */
const OPTIONAL = 'id i,reason s,message s,channel s,version s,sub s,pingInterval p,features l';

const fields = (spec: string) =>
  spec === '' ? [] : spec.split(',').map((f) => f.split(' ') as [string, string]);

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
  const required = typeof f.op === 'string' && Object.hasOwn(REQUIRED, f.op) ? REQUIRED[f.op] : undefined;
  if (required === undefined) return null;
  for (const [name, kind] of fields(required)) if (!KINDS[kind]?.(f[name])) return null;
  for (const [name, kind] of fields(OPTIONAL)) {
    if (f[name] !== undefined && !KINDS[kind]?.(f[name]) && !required.includes(`${name} `)) delete f[name];
  }
  if (f.op === 'welcome') f.features ??= [];
  if (f.op === 'error') f.message ??= f.code;
  return f as unknown as ServerFrame;
}
