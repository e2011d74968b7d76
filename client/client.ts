/**
 * The wsfleet client: one WebSocket to the cluster, reconnected with full-jitter backoff, every
 * subscription resumed from its last offset and epoch, publishes answered by acks, application
 * pings (browsers cannot see WebSocket pings), and the token refreshed before it expires.
 */
import { type Clock, systemClock, Timer } from './clock.ts';
import { Emitter } from './emitter.ts';
import { clientError, WsfleetError } from './errors.ts';
import {
  type ErrorFrame,
  isValidChannel,
  parseServerFrame,
  type ServerFrame,
  type WelcomeFrame,
} from './frames.ts';
import { Heartbeat } from './heartbeat.ts';
import { browserSignals } from './page.ts';
import { Publisher, type PublishOptions, type PublishResult } from './publisher.ts';
import { closeKind, DEFAULT_RECONNECT, type ReconnectPolicy, reconnectDelay } from './reconnect.ts';
import { Subscription } from './subscription.ts';
import { isSubprotocolSafe } from './token.ts';
import { TokenKeeper } from './token-keeper.ts';
import type {
  ClientEvents,
  Connected,
  ConnectionState,
  ConnectOptions,
  SubscribeOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts';

interface Connection {
  readonly socket: WebSocketLike;
  welcome: WelcomeFrame | undefined;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  publishTimeoutMs: 15_000,
  pongTimeoutMs: 5_000,
  refreshMarginMs: 30_000,
};
/** A subscription the broker could not set up is retried after 1–3 s on the same connection. */
const SUBSCRIBE_RETRY_MS = [1_000, 3_000] as const;

export class WsfleetClient extends Emitter<ClientEvents> {
  readonly #url: string;
  readonly #opts: ConnectOptions & typeof DEFAULTS;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #policy: ReconnectPolicy;
  readonly #WebSocket: WebSocketConstructor;
  readonly #subs = new Map<string, Subscription>();
  readonly #subscribeIds = new Map<number, Subscription>();
  readonly #retries = new Set<unknown>();
  readonly #publisher: Publisher;
  readonly #reconnectTimer: Timer;
  readonly #connectTimer: Timer;
  readonly #stableTimer: Timer;
  readonly #heartbeat: Heartbeat;
  readonly #tokens: TokenKeeper;
  readonly #unhook: (() => void)[];
  #state: ConnectionState = 'connecting';
  #conn: Connection | undefined;
  #connected: Connected | undefined;
  #refreshId: number | undefined;
  #attempt = 0;
  #nextId = 1;
  #generation = 0;

  /** @internal Use `connect()`. */
  constructor(url: string, options: ConnectOptions, WebSocket: WebSocketConstructor) {
    super();
    this.#url = url;
    // An option given as undefined keeps its default.
    this.#opts = {
      ...DEFAULTS,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    };
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#policy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#WebSocket = WebSocket;
    this.#reconnectTimer = new Timer(this.#clock);
    this.#connectTimer = new Timer(this.#clock);
    this.#stableTimer = new Timer(this.#clock);
    this.#heartbeat = new Heartbeat(
      this.#clock,
      () => this.#send({ op: 'ping' }),
      () => this.#abandon('no answer to ping'),
    );
    this.#tokens = new TokenKeeper(
      this.#clock,
      options.token,
      options.getToken,
      this.#opts.refreshMarginMs,
      (err) => this.emit('error', err),
      (token) => this.#handOver(token),
    );
    this.#publisher = new Publisher({
      clock: this.#clock,
      timeoutMs: this.#opts.publishTimeoutMs,
      nextId: () => this.#nextId++,
      send: (frame) => this.#send(frame),
    });
    const page = options.page ?? browserSignals();
    this.#unhook = [page.onVisible(() => this.#checkNow()), page.onOnline(() => this.#reconnectNow())];
    // After the caller's synchronous code, so listeners added right after connect() see every event.
    queueMicrotask(() => {
      if (!this.closed) void this.#open();
    });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** True once close() was called (or a token expired that cannot be renewed). */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Node, session and features of the current connection; undefined while not connected. */
  get connection(): Connected | undefined {
    return this.#state === 'connected' ? this.#connected : undefined;
  }

  /** Subscribes from now on, or from `since` of `epoch` (both from an earlier message or `position`). */
  subscribe(channel: string, from: SubscribeOptions = {}): Subscription {
    if (this.#state === 'closed') throw clientError('closed', { channel });
    checkChannel(channel);
    if (this.#subs.has(channel)) throw clientError('already_subscribed', { channel });
    const { since, epoch } = from;
    // The server refuses `since` without `epoch`: an offset means nothing outside its epoch.
    if ((since === undefined) !== (epoch === undefined) || !(since === undefined || since >= 0)) {
      throw badArgument('since and epoch go together', channel);
    }
    const sub = new Subscription(
      channel,
      since === undefined || epoch === undefined ? undefined : { offset: Math.floor(since), epoch },
      { unsubscribe: (s) => this.#unsubscribe(s) },
    );
    this.#subs.set(channel, sub);
    if (this.#conn?.welcome !== undefined) this.#sendSubscribe(sub);
    return sub;
  }

  /**
   * Publishes `data` (any JSON value) and resolves with its offset once the server stored it.
   * Rejects with a WsfleetError: the server's code, or `timeout`, `disconnected`, `closed`.
   */
  publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    try {
      if (this.closed) throw clientError('closed', { channel });
      checkChannel(channel);
      if (data === undefined) throw badArgument('data is required', channel);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#publisher.publish(channel, data, options, this.#conn?.welcome);
  }

  /** Closes the connection for good: pending publishes reject with `closed`, subscriptions end. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#generation++;
    const conn = this.#conn;
    this.#detach();
    if (conn !== undefined) this.#closeSocket(conn.socket, 1000, 'client closed');
    this.#reconnectTimer.cancel();
    this.#tokens.stop();
    for (const unhook of this.#unhook) unhook();
    this.#publisher.closeAll(clientError('closed'));
    for (const sub of this.#subs.values()) sub._end('unsubscribed');
    this.#subs.clear();
    this.#setState('closed');
    if (conn !== undefined)
      this.emit('disconnected', { code: 1000, reason: 'client closed', reconnectInMs: undefined });
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation;
    this.#setState('connecting');
    this.emit('connecting', { attempt: this.#attempt });
    const ready = await this.#tokens.ready();
    if (generation !== this.#generation) return;
    if (!ready) {
      this.#scheduleReconnect(1006, 'token fetch failed', 'lost');
      return;
    }
    const token = this.#tokens.token;
    const protocols = ['wsfleet'];
    let url = this.#url;
    if (token !== undefined) {
      if (isSubprotocolSafe(token)) protocols.push(`wsfleet-token.${token}`);
      else url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
    }
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url, protocols) as WebSocketLike;
    } catch (err) {
      this.emit('error', new WsfleetError('bad_argument', 'new WebSocket failed', { cause: err }));
      this.#scheduleReconnect(1006, 'new WebSocket failed', 'lost');
      return;
    }
    const conn: Connection = { socket, welcome: undefined };
    this.#conn = conn;
    socket.onmessage = (event: { data: unknown }) => {
      if (this.#conn === conn) this.#onFrame(conn, event.data);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (this.#conn === conn) this.#onClose(event.code, event.reason, closeKind(event.code));
    };
    socket.onerror = () => undefined; // a close event always follows, and handles it
    this.#connectTimer.after(this.#opts.connectTimeoutMs, () => this.#abandon('no welcome'));
  }

  #send(frame: Record<string, unknown>): boolean {
    const conn = this.#conn;
    if (conn?.welcome === undefined || conn.socket.readyState !== 1) return false;
    conn.socket.send(JSON.stringify(frame));
    return true;
  }

  #onFrame(conn: Connection, data: unknown): void {
    this.#heartbeat.answered();
    const frame = parseServerFrame(data);
    if (frame === null) {
      this.emit(
        'error',
        clientError('bad_server_frame', { cause: typeof data === 'string' ? data.slice(0, 200) : data }),
      );
      return;
    }
    if (conn.welcome === undefined && frame.op !== 'welcome') return;
    this.#dispatch(conn, frame);
  }

  #dispatch(conn: Connection, frame: ServerFrame): void {
    switch (frame.op) {
      case 'welcome':
        if (conn.welcome === undefined) this.#onWelcome(conn, frame);
        return;
      case 'subscribed': {
        if (frame.id !== undefined && typeof frame.id === 'number') this.#subscribeIds.delete(frame.id);
        this.#subs.get(frame.channel)?._subscribed(frame.epoch, frame.offset, frame.recovered, frame.reason);
        return;
      }
      case 'message':
        this.#subs.get(frame.channel)?._message(frame.data, frame.offset);
        return;
      case 'ack':
        this.#publisher.ack(frame.id, frame.channel, frame.offset);
        return;
      case 'error':
        this.#onError(frame);
        return;
      case 'refreshed':
        if (frame.id === this.#refreshId) {
          this.#refreshId = undefined;
          this.#tokens.schedule();
        }
        return;
      case 'pong':
      case 'unsubscribed':
        return;
    }
  }

  #onWelcome(conn: Connection, frame: WelcomeFrame): void {
    conn.welcome = frame;
    this.#connectTimer.cancel();
    this.#connected = frame;
    this.#setState('connected');
    this.emit('connected', this.#connected);
    this.#heartbeat.start((frame.pingInterval ?? 25) * 1000);
    this.#stableTimer.after(this.#policy.stableMs, () => {
      this.#attempt = 0;
    });
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    this.#publisher.resume(frame);
    this.#tokens.schedule();
  }

  #sendSubscribe(sub: Subscription): void {
    const id = this.#nextId++;
    if (this.#send(sub._subscribeFrame(id))) this.#subscribeIds.set(id, sub);
  }

  #onError(frame: ErrorFrame): void {
    const error = new WsfleetError(
      frame.code,
      frame.message,
      frame.channel === undefined ? {} : { channel: frame.channel },
    );
    const id = frame.id;
    if (id !== undefined && this.#publisher.fail(id, error)) return;
    if (id !== undefined && id === this.#refreshId) {
      this.#refreshId = undefined;
      this.emit('error', error);
      return;
    }
    const sub = typeof id === 'number' ? this.#subscribeIds.get(id) : undefined;
    if (sub === undefined || typeof id !== 'number') {
      this.emit('error', error);
      return;
    }
    this.#subscribeIds.delete(id);
    if (this.#subs.get(sub.channel) !== sub) return;
    if (frame.code !== 'subscribe_failed') {
      this.#subs.delete(sub.channel);
      sub._fail(error);
      return;
    }
    // The broker was briefly unreachable: try again shortly, still from the same position.
    const [min, max] = SUBSCRIBE_RETRY_MS;
    const handle = this.#clock.setTimeout(
      () => {
        this.#retries.delete(handle);
        if (this.#subs.get(sub.channel) === sub && sub.state === 'subscribing') this.#sendSubscribe(sub);
      },
      min + this.#random() * (max - min),
    );
    this.#retries.add(handle);
  }

  #unsubscribe(sub: Subscription): void {
    if (this.#subs.get(sub.channel) !== sub) return;
    this.#subs.delete(sub.channel);
    this.#send({ op: 'unsubscribe', channel: sub.channel });
  }

  /** Drops a connection that stopped answering, without waiting for a close handshake that will not come. */
  #abandon(reason: string): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    this.#detach();
    this.#closeSocket(conn.socket, 4000, reason);
    this.#afterClose(conn, 4000, reason, 'lost');
  }

  #onClose(code: number, reason: string, kind: ReturnType<typeof closeKind>): void {
    const conn = this.#conn;
    if (conn === undefined) return;
    this.#detach();
    this.#afterClose(conn, code, reason, kind);
  }

  /** Forgets the current socket and everything timed on it. */
  #detach(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#connectTimer.cancel();
    this.#stableTimer.cancel();
    this.#heartbeat.stop();
    for (const handle of this.#retries) this.#clock.clearTimeout(handle);
    this.#retries.clear();
    this.#subscribeIds.clear();
    this.#refreshId = undefined;
    if (conn !== undefined) {
      conn.socket.onmessage = null;
      conn.socket.onclose = null;
    }
  }

  #closeSocket(socket: WebSocketLike, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      // already closing
    }
  }

  #afterClose(conn: Connection, code: number, reason: string, kind: ReturnType<typeof closeKind>): void {
    for (const sub of this.#subs.values()) sub._suspend();
    this.#publisher.suspend();
    // A browser sees a refused token only as a connection that closed before the welcome.
    if (conn.welcome === undefined) this.#tokens.invalidate();
    if (kind === 'token_expired') {
      if (!this.#tokens.renewable) {
        this.emit('error', clientError('token_expired'));
        this.emit('disconnected', { code, reason, reconnectInMs: undefined });
        this.close();
        return;
      }
      this.#tokens.invalidate();
    }
    this.#scheduleReconnect(code, reason, kind);
  }

  #scheduleReconnect(code: number, reason: string, kind: ReturnType<typeof closeKind>): void {
    const delay = reconnectDelay(this.#policy, this.#attempt, kind, this.#random);
    this.#attempt++;
    this.#setState('disconnected');
    this.emit('disconnected', { code, reason, reconnectInMs: delay });
    this.#reconnectTimer.after(delay, () => void this.#open());
  }

  /** The page turned visible: a ping now tells within pongTimeoutMs whether the connection survived. */
  #checkNow(): void {
    if (this.#conn?.welcome !== undefined) this.#heartbeat.checkNow(this.#opts.pongTimeoutMs);
  }

  /** The device is back online: skip the rest of the backoff wait. */
  #reconnectNow(): void {
    // Only while waiting for the reconnect timer (not while fetching a token, say).
    if (this.#state !== 'disconnected') return;
    this.#reconnectTimer.cancel();
    void this.#open();
  }

  /** Gives a new token to the open connection when the server can take one (the `refresh` feature). */
  #handOver(token: string): boolean {
    if (this.#conn?.welcome?.features.includes('refresh') !== true) return false;
    const id = this.#nextId++;
    if (!this.#send({ op: 'refresh', token, id })) return false;
    this.#refreshId = id;
    return true;
  }
}

function badArgument(message: string, channel?: string): WsfleetError {
  return new WsfleetError('bad_argument', message, channel === undefined ? {} : { channel });
}

function checkChannel(channel: string): void {
  if (!isValidChannel(channel)) throw badArgument('bad channel name', channel);
}

/**
 * Connects to a wsfleet cluster (`wss://host/ws`) and keeps the connection: see README "Client".
 * Throws a WsfleetError (`bad_argument`, `no_websocket`) when it cannot even start.
 */
export function connect(url: string, options: ConnectOptions = {}): WsfleetClient {
  if (!/^wss?:\/\/[^/]/i.test(url)) throw badArgument('not a ws:// or wss:// URL');
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WebSocket === undefined) throw clientError('no_websocket');
  return new WsfleetClient(url, options, WebSocket);
}
