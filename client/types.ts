/** The public types of the client: options, states and events. */
import type { Clock } from './clock.ts';
import type { WsfleetError } from './errors.ts';
import type { PageSignals } from './page.ts';
import type { ReconnectPolicy } from './reconnect.ts';

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
