/**
 * The client side of each system's wire protocol, spoken by the same raw `ws` clients for every
 * system so that the load generators cost the same: handshake, keep-alive, subscribe, publish,
 * and telling delivered messages apart by a byte prefix (no JSON parsing on the hot path).
 */

export type DialectName = 'wsfleet' | 'socketio' | 'ws';

export interface Dialect {
  readonly name: DialectName;
  url(host: string, port: number): string;
  /** True when the connection is usable as soon as the WebSocket opens (no greeting frame). */
  readonly readyOnOpen: boolean;
  /** Handles a frame before the connection is ready; `send` answers the server's greeting. */
  handshake(frame: Buffer, send: (text: string) => void): 'ready' | 'wait' | 'failed';
  /** Answers a protocol-level keep-alive; true when `frame` was one. */
  keepAlive(frame: Buffer, send: (text: string) => void): boolean;
  subscribeFrame(channel: string): string;
  /** The reply to `subscribeFrame`: confirmed, refused, or not that reply. */
  subscribeReply(frame: Buffer): 'ok' | 'error' | 'other';
  /** `dataJson` is the publication's payload as JSON text; `id` correlates the acknowledgement. */
  publishFrame(channel: string, dataJson: string, id: number): string;
  publishReply(frame: Buffer): 'ack' | 'error' | 'other';
  /** True when the frame delivers a publication to a subscriber. */
  isMessage(frame: Buffer): boolean;
}

function prefix(text: string): (frame: Buffer) => boolean {
  const p = Buffer.from(text);
  const n = p.length;
  return (frame) => {
    if (frame.length < n) return false;
    for (let i = 0; i < n; i++) if (frame[i] !== p[i]) return false;
    return true;
  };
}

const wsfleetWelcome = prefix('{"op":"welcome"');
const wsfleetSubscribed = prefix('{"op":"subscribed"');
const wsfleetError = prefix('{"op":"error"');
const wsfleetAck = prefix('{"op":"ack"');
const wsfleetMessage = prefix('{"op":"message"');

const wsfleet: Dialect = {
  name: 'wsfleet',
  url: (host, port) => `ws://${host}:${port}/ws`,
  readyOnOpen: false,
  handshake: (frame) => (wsfleetWelcome(frame) ? 'ready' : wsfleetError(frame) ? 'failed' : 'wait'),
  // The server pings at the WebSocket level; `ws` answers those by itself.
  keepAlive: () => false,
  subscribeFrame: (channel) => JSON.stringify({ op: 'subscribe', channel }),
  subscribeReply: (frame) => (wsfleetSubscribed(frame) ? 'ok' : wsfleetError(frame) ? 'error' : 'other'),
  publishFrame: (channel, dataJson, id) =>
    `{"op":"publish","channel":${JSON.stringify(channel)},"data":${dataJson},"id":${id}}`,
  publishReply: (frame) => (wsfleetAck(frame) ? 'ack' : wsfleetError(frame) ? 'error' : 'other'),
  isMessage: wsfleetMessage,
};

// Engine.IO v4 packet types are one digit: 0 open, 2 ping, 3 pong, 4 message; Socket.IO packet
// types follow inside a message: 0 connect, 2 event, 3 ack, 4 connect error.
const eioOpen = prefix('0');
const sioConnected = prefix('40');
const sioConnectError = prefix('44');
const sioAck = prefix('43');
const sioMessage = prefix('42["message"');

const socketio: Dialect = {
  name: 'socketio',
  url: (host, port) => `ws://${host}:${port}/socket.io/?EIO=4&transport=websocket`,
  readyOnOpen: false,
  handshake: (frame, send) => {
    if (sioConnected(frame)) return 'ready';
    if (sioConnectError(frame)) return 'failed';
    // Join the main namespace once the Engine.IO session is open.
    if (eioOpen(frame)) send('40');
    return 'wait';
  },
  keepAlive: (frame, send) => {
    if (frame.length === 1 && frame[0] === 0x32) {
      send('3');
      return true;
    }
    return false;
  },
  subscribeFrame: (channel) => `420${JSON.stringify(['subscribe', channel])}`,
  subscribeReply: (frame) => (sioAck(frame) ? 'ok' : 'other'),
  publishFrame: (channel, dataJson, id) => `42${id}["publish",${JSON.stringify(channel)},${dataJson}]`,
  publishReply: (frame) => (sioAck(frame) ? 'ack' : 'other'),
  isMessage: sioMessage,
};

const wsPayload = prefix('{"t":');

/** The raw `ws` reference server: `subscribe` joins its one room, any other text is fanned out. */
const ws: Dialect = {
  name: 'ws',
  url: (host, port) => `ws://${host}:${port}/`,
  readyOnOpen: true,
  handshake: () => 'ready',
  keepAlive: () => false,
  subscribeFrame: () => 'subscribe',
  subscribeReply: (frame) => (frame.toString() === 'subscribed' ? 'ok' : 'other'),
  // No acknowledgements: the payload is the whole frame.
  publishFrame: (_channel, dataJson) => dataJson,
  publishReply: () => 'other',
  isMessage: wsPayload,
};

export const DIALECTS: Readonly<Record<DialectName, Dialect>> = { wsfleet, socketio, ws };

/** CLOCK_MONOTONIC in microseconds: the same clock in every process of this machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The publication payload: send time, sequence number and padding to a fixed size. */
export function payloadJson(seq: number, padding: string): string {
  return `{"t":${nowUs()},"s":${seq},"p":"${padding}"}`;
}

const T_KEY = Buffer.from('"t":');

/** The decimal digits in `frame` from `start` on, as a number (0 when there are none). */
export function digitsAt(frame: Buffer, start: number): number {
  let value = 0;
  for (let i = start; i < frame.length; i++) {
    const c = frame[i] ?? 0;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** The send time carried in a delivered frame's payload, or -1 when it has none. */
export function sentAtUs(frame: Buffer): number {
  const i = frame.indexOf(T_KEY);
  return i === -1 ? -1 : digitsAt(frame, i + T_KEY.length);
}
