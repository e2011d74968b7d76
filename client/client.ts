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
import { browserSignals, type PageSignals } from './page.ts';
import { Publisher, type PublishOptions, type PublishResult } from './publisher.ts';
import { closeKind, DEFAULT_RECONNECT, type ReconnectPolicy, reconnectDelay } from './reconnect.ts';
import { Subscription } from './subscription.ts';
import { isSubprotocolSafe, tokenExpiry } from './token.ts';

/** What the client needs of a WebSocket: the browser's, Node 22's global one, or the `ws` package's. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: unknown;
  onmessage: unknown;
  onclose: unknown;
  onerror: unknown;
}

export type WebSocketConstructor = new (url: string, protocols: string[]) => unknown;

export interface ConnectOptions {
  /** A token for servers started with `--token-secret`; fixed for the client's life. */
  readonly token?: string;
  /** Called before a connect when there is no token yet, when it is about to expire, and after a refusal. */
  readonly getToken?: () => string | Promise<string>;
  /** The WebSocket class; defaults to the global one. In Node 20, pass `WebSocket` from the `ws` package. */
  readonly WebSocket?: WebSocketConstructor;
  /** Overrides of the reconnect schedule (README "Client" gives the defaults). */
  readonly reconnect?: Partial<ReconnectPolicy>;
  /** A connect that brings no welcome frame within this many ms is dropped and retried. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** A publish not acknowledged within this many ms is rejected with `timeout`. Default 15000. */
  readonly publishTimeoutMs?: number;
  /** After the page turns visible, a ping not answered within this many ms drops the connection. Default 5000. */
  readonly pongTimeoutMs?: number;
  /** The token is refreshed this many ms before its `exp`. Default 30000. */
  readonly refreshMarginMs?: number;
  /** For tests: time, randomness and page signals. */
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly page?: PageSignals;
}

/** Where a subscription starts: now (nothing given) or after offset `since` of `epoch`. */
export interface SubscribeOptions {
  readonly since?: number;
  readonly epoch?: string;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface Connected {
  readonly node: string;
  readonly session: string;
  readonly version: string | undefined;
  /** The token's `sub`, when it has one. */
  readonly sub: string | undefined;
  /** Optional protocol features of this server: `idempotency`, `refresh`. */
  readonly features: readonly string[];
}

export interface ClientEvents {
  state: ConnectionState;
  connecting: { readonly attempt: number };
  connected: Connected;
  /** `reconnectInMs` is undefined when the client will not reconnect (closed, or a token it cannot renew). */
  disconnected: {
    readonly code: number;
    readonly reason: string;
    readonly reconnectInMs: number | undefined;
  };
  /** Problems that belong to no single request: a malformed server frame, a failed token fetch or refresh. */
  error: WsfleetError;
}

interface Connection {
  readonly socket: WebSocketLike;
  welcome: WelcomeFrame | undefined;
  awaitingPong: boolean;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  publishTimeoutMs: 15_000,
  pongTimeoutMs: 5_000,
  refreshMarginMs: 30_000,
};
/** A subscription the broker could not set up is retried after 1–3 s on the same connection. */
const SUBSCRIBE_RETRY_MS = [1_000, 3_000] as const;
/** A failed token fetch for a refresh is tried again this often until the token expires. */
const REFRESH_RETRY_MS = 5_000;

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
  readonly #pingTimer: Timer;
  readonly #pongTimer: Timer;
  readonly #stableTimer: Timer;
  readonly #refreshTimer: Timer;
  readonly #unhook: (() => void)[];
  #state: ConnectionState = 'connecting';
  #conn: Connection | undefined;
  #connected: Connected | undefined;
  #token: string | undefined;
  #refreshId: number | undefined;
  #needToken = true;
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
    this.#token = options.token;
    this.#needToken = options.getToken !== undefined && options.token === undefined;
    this.#reconnectTimer = new Timer(this.#clock);
    this.#connectTimer = new Timer(this.#clock);
    this.#pingTimer = new Timer(this.#clock);
    this.#pongTimer = new Timer(this.#clock);
    this.#stableTimer = new Timer(this.#clock);
    this.#refreshTimer = new Timer(this.#clock);
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
      throw badArgument('since (an offset ≥ 0) and epoch go together', channel);
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
    this.#refreshTimer.cancel();
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
    const getToken = this.#opts.getToken;
    if (getToken !== undefined && (this.#needToken || this.#tokenExpiring())) {
      const token = await this.#fetchToken(getToken);
      if (generation !== this.#generation) return;
      if (token === undefined) {
        this.#scheduleReconnect(1006, 'token fetch failed', 'lost');
        return;
      }
      this.#token = token;
      this.#needToken = false;
    }
    const token = this.#token;
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
      this.emit('error', new WsfleetError('bad_argument', 'WebSocket constructor failed', { cause: err }));
      this.#scheduleReconnect(1006, 'WebSocket constructor failed', 'lost');
      return;
    }
    const conn: Connection = { socket, welcome: undefined, awaitingPong: false };
    this.#conn = conn;
    socket.onmessage = (event: { data: unknown }) => {
      if (this.#conn === conn) this.#onFrame(conn, event.data);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (this.#conn === conn) this.#onClose(event.code, event.reason, closeKind(event.code));
    };
    socket.onerror = () => undefined; // a close event always follows, and handles it
    this.#connectTimer.after(this.#opts.connectTimeoutMs, () => this.#abandon('no welcome from the server'));
  }

  #send(frame: Record<string, unknown>): boolean {
    const conn = this.#conn;
    if (conn?.welcome === undefined || conn.socket.readyState !== 1) return false;
    conn.socket.send(JSON.stringify(frame));
    return true;
  }

  #onFrame(conn: Connection, data: unknown): void {
    conn.awaitingPong = false;
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
          this.#scheduleRefresh();
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
    const pingMs = (frame.pingInterval ?? 25) * 1000;
    const heartbeat = () => {
      // Any frame counts as an answer. Hidden tabs throttle timers, so only a ping left
      // unanswered for a whole interval means the connection is gone, never elapsed time alone.
      if (conn.awaitingPong) {
        this.#abandon('no answer to ping');
        return;
      }
      conn.awaitingPong = this.#send({ op: 'ping' });
      this.#pingTimer.after(pingMs, heartbeat);
    };
    this.#pingTimer.after(pingMs, heartbeat);
    this.#stableTimer.after(this.#policy.stableMs, () => {
      this.#attempt = 0;
    });
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    this.#publisher.resume(frame);
    this.#scheduleRefresh();
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
    for (const timer of [this.#connectTimer, this.#pingTimer, this.#pongTimer, this.#stableTimer])
      timer.cancel();
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
    if (conn.welcome === undefined && this.#opts.getToken !== undefined) this.#needToken = true;
    if (kind === 'token_expired') {
      if (this.#opts.getToken === undefined) {
        this.emit('error', clientError('token_expired'));
        this.emit('disconnected', { code, reason, reconnectInMs: undefined });
        this.close();
        return;
      }
      this.#needToken = true;
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
    const conn = this.#conn;
    if (conn?.welcome === undefined) return;
    conn.awaitingPong = this.#send({ op: 'ping' });
    this.#pongTimer.after(this.#opts.pongTimeoutMs, () => {
      if (this.#conn === conn && conn.awaitingPong) this.#abandon('no answer to ping');
    });
  }

  /** The device is back online: skip the rest of the backoff wait. */
  #reconnectNow(): void {
    // Only while waiting for the reconnect timer (not while fetching a token, say).
    if (this.#state !== 'disconnected') return;
    this.#reconnectTimer.cancel();
    void this.#open();
  }

  #tokenExpiring(): boolean {
    if (this.#token === undefined) return true;
    const exp = tokenExpiry(this.#token);
    return exp !== undefined && exp - this.#clock.now() <= this.#opts.refreshMarginMs;
  }

  /** Arms the refresh `refreshMarginMs` before the current token's `exp` (only with getToken). */
  #scheduleRefresh(): void {
    this.#refreshTimer.cancel();
    if (this.#opts.getToken === undefined || this.#token === undefined) return;
    const exp = tokenExpiry(this.#token);
    if (exp === undefined) return;
    const margin = this.#opts.refreshMarginMs;
    this.#refreshTimer.at(exp - margin, () => void this.#refresh(exp));
  }

  /** A token from getToken, or undefined (reported as token_failed) when it throws or returns no string. */
  async #fetchToken(getToken: () => string | Promise<string>): Promise<string | undefined> {
    try {
      const token = await getToken();
      if (typeof token === 'string' && token !== '') return token;
      throw new TypeError('getToken returned no token');
    } catch (err) {
      if (!this.closed) this.emit('error', clientError('token_failed', { cause: err }));
      return undefined;
    }
  }

  async #refresh(oldExp: number): Promise<void> {
    const getToken = this.#opts.getToken;
    if (getToken === undefined || this.#state === 'closed') return;
    const token = await this.#fetchToken(getToken);
    if (this.closed) return;
    if (token === undefined) {
      if (this.#clock.now() + REFRESH_RETRY_MS < oldExp) {
        this.#refreshTimer.after(REFRESH_RETRY_MS, () => void this.#refresh(oldExp));
      }
      return;
    }
    this.#token = token;
    const newExp = tokenExpiry(token);
    const conn = this.#conn;
    if (conn?.welcome?.features.includes('refresh') === true) {
      const id = this.#nextId++;
      if (this.#send({ op: 'refresh', token, id })) {
        this.#refreshId = id;
        return; // `refreshed` arms the next one
      }
    }
    // Without server support the new token is used from the next connect on.
    if (newExp !== undefined && newExp > oldExp) this.#scheduleRefresh();
  }
}

function badArgument(message: string, channel?: string): WsfleetError {
  return new WsfleetError('bad_argument', message, channel === undefined ? {} : { channel });
}

function checkChannel(channel: string): void {
  if (!isValidChannel(channel)) throw badArgument('channel: 1–200 of [A-Za-z0-9_.:@/=-]', channel);
}

/**
 * Connects to a wsfleet cluster (`wss://host/ws`) and keeps the connection: see README "Client".
 * Throws a WsfleetError (`bad_argument`, `no_websocket`) when it cannot even start.
 */
export function connect(url: string, options: ConnectOptions = {}): WsfleetClient {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new WsfleetError('bad_argument', 'not a URL', { cause: err });
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw badArgument('the URL must start with ws:// or wss://');
  }
  const WebSocket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (WebSocket === undefined) throw clientError('no_websocket');
  return new WsfleetClient(url, options, WebSocket);
}
