/**
 * The app daemon, built apart from running it: `createApp(config, deps)` returns
 * `{ start(), close() }`; only main.ts reads flags and handles signals.
 *
 * One port serves the WebSocket endpoint /ws and HTTP: /livez, /readyz (alias /healthz), /metrics, POST /api/publish
 * and the demo page at /.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { closeServer, listen } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import { monotonicNow, take } from '../shared/token-bucket.ts';
import { VERSION } from '../shared/version.ts';
import type { Broker } from './broker.ts';
import type { AppConfig } from './config.ts';
import { type Health, readiness } from './health.ts';
import { handleHttp } from './http-api.ts';
import { Hub } from './hub.ts';
import { createMemoryBroker } from './memory-broker.ts';
import { type AppMetrics, createAppMetrics } from './metrics.ts';
import { originAllowed } from './origin.ts';
import { type ClientOp, type ProtocolErrorCode, parseClientFrame, type RequestId } from './protocol.ts';
import { createRedisBroker } from './redis-broker.ts';
import { redisConnectionOf } from './redis-connection.ts';
import { Session } from './session.ts';
import {
  channelAllowed,
  msUntilExpiry,
  PROTOCOL,
  TOKEN_EXPIRED,
  TOKEN_PROTOCOL_PREFIX,
  type TokenClaims,
  tokenFromRequest,
  verifyToken,
} from './token.ts';

export interface AppDeps {
  readonly log: Logger;
  /** Defaults to Redis with --redis-url, else the in-memory broker. */
  readonly broker?: Broker;
  readonly metrics?: AppMetrics;
  /** Monotonic milliseconds for rate limits; defaults to performance.now(). */
  readonly clock?: () => number;
  /** Told when the daemon's readiness (as /readyz reports it) changes. */
  readonly onHealth?: (ready: boolean, reason: string) => void;
}

export interface App {
  /** Listens; resolves once the broker is connected and the port accepts connections. */
  start(): Promise<AddressInfo>;
  /** Drains (readyz 503, upgrades refused, clients closed with 1012 over the drain window), then releases everything. Idempotent. */
  close(): Promise<void>;
  readonly metrics: AppMetrics;
  /** Open connections. */
  readonly connections: number;
  health(): Health;
}

type HandlerSite = 'upgrade' | 'message' | 'subscribe' | 'publish' | 'http';

/**
 * The request target as sent, split without `new URL` (which throws on targets such as `//`):
 * the path is compared byte for byte, the query only read for a token.
 */
export function parseTarget(raw: string | undefined): { path: string; query: URLSearchParams } {
  const target = raw ?? '/';
  const mark = target.indexOf('?');
  return mark < 0
    ? { path: target, query: new URLSearchParams() }
    : { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

function rejectUpgrade(socket: Duplex, status: number, reason: string, text: string): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function createApp(config: AppConfig, deps: AppDeps): App {
  const log = deps.log;
  const metrics = deps.metrics ?? createAppMetrics();
  const clock = deps.clock ?? monotonicNow;
  const limits = { historySize: config.historySize, historyTtlMs: config.historyTtl * 1000 };
  const broker =
    deps.broker ??
    (config.redisUrl === undefined
      ? createMemoryBroker(limits)
      : createRedisBroker({
          ...redisConnectionOf({
            redisUrl: config.redisUrl,
            redisCaFile: config.redisCaFile,
            redisPassword: config.redisPassword,
            redisPasswordFile: config.redisPasswordFile,
          }),
          limits,
          log,
        }));
  const sessions = new Map<WebSocket, Session>();
  const idPrefix = randomBytes(3).toString('base64url');
  let nextId = 0;
  let draining = false;
  let closing: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let server: Server | undefined;

  const hub = new Hub({
    broker,
    log: log.child({ component: 'hub' }),
    metrics,
    maxChannelsPerConnection: config.maxChannelsPerConnection,
    maxSendBufferBytes: config.maxSendBufferBytes,
    onSlowConsumer(session, queued) {
      log.warn({ session: session.id, queuedBytes: queued }, 'slow consumer disconnected');
      metrics.disconnects.inc({ reason: 'slow_consumer' });
      session.ws.terminate();
    },
  });
  const listener = {
    publication: hub.publication.bind(hub),
    reset: hub.reset.bind(hub),
    health(up: boolean) {
      metrics.brokerUp.set(up ? 1 : 0);
      // Closing the broker on shutdown is not an outage: say nothing about it.
      if (closing !== undefined) return;
      log.info({ brokerUp: up }, up ? 'broker reachable' : 'broker unreachable');
      const h = health();
      deps.onHealth?.(h.ready, h.reasons.join(', ') || 'serving');
    },
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols(protocols) {
      // Browsers fail a connection that offered protocols and got none back: pick `wsfleet`
      // when offered, else the first one that is not a token.
      if (protocols.has(PROTOCOL)) return PROTOCOL;
      for (const p of protocols) if (!p.startsWith(TOKEN_PROTOCOL_PREFIX)) return p;
      return false;
    },
  });

  function health(): Health {
    // Once closing, the broker's going away is part of the drain, not a second reason.
    return readiness({ draining, brokerHealthy: draining || broker.healthy() });
  }

  function protocolError(
    session: Session,
    code: ProtocolErrorCode,
    message: string,
    extra: object = {},
  ): void {
    metrics.protocolErrors.inc({ code });
    session.reply({ op: 'error', code, message, ...extra });
  }

  /**
   * The error boundary: a handler that throws on input of one client costs that client its
   * request or connection, never the process. Counted by where it happened, logged once.
   */
  function handlerFailed(where: HandlerSite, err: unknown, session?: Session): void {
    metrics.handlerErrors.inc({ where });
    log.error({ err, where, session: session?.id }, 'handler failed; closed that one request or connection');
  }

  /**
   * Sockets of refused upgrades: answered and ended on our side, but a peer may never end its
   * own. The HTTP server no longer tracks upgraded sockets, so close() destroys these itself.
   */
  const refused = new Set<Duplex>();

  function refuse(socket: Duplex, status: number, reason: string, text: string): void {
    refused.add(socket);
    socket.once('close', () => refused.delete(socket));
    rejectUpgrade(socket, status, reason, text);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    try {
      upgrade(req, socket, head);
    } catch (err) {
      handlerFailed('upgrade', err);
      if (socket.writable && !socket.writableEnded)
        refuse(socket, 500, 'Internal Server Error', 'internal error');
      else socket.destroy();
    }
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = parseTarget(req.url);
    if (target.path !== '/ws') {
      metrics.rejected.inc({ reason: 'not_found' });
      refuse(socket, 404, 'Not Found', 'WebSocket endpoint is /ws');
      return;
    }
    if (draining) {
      metrics.rejected.inc({ reason: 'draining' });
      refuse(socket, 503, 'Service Unavailable', 'node is draining; connect again');
      return;
    }
    if (sessions.size >= config.maxConnections) {
      metrics.rejected.inc({ reason: 'connection_cap' });
      refuse(socket, 503, 'Service Unavailable', 'node is at its connection cap; connect again');
      return;
    }
    if (!originAllowed(req.headers.origin, req.headers.host, config.allowedOrigins)) {
      metrics.rejected.inc({ reason: 'origin' });
      log.info({ origin: req.headers.origin }, 'upgrade refused: origin not allowed');
      refuse(socket, 403, 'Forbidden', 'origin not allowed');
      return;
    }
    let claims: TokenClaims | undefined;
    if (config.tokenSecret !== undefined) {
      const offered = new Set(
        (req.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== ''),
      );
      const token = tokenFromRequest(target.query, offered);
      const result =
        token === undefined
          ? ({ ok: false, reason: 'no token' } as const)
          : verifyToken(token, config.tokenSecret, Math.floor(Date.now() / 1000));
      if (!result.ok) {
        metrics.rejected.inc({ reason: 'token' });
        log.info({ reason: result.reason }, 'upgrade refused: token');
        refuse(socket, 401, 'Unauthorized', result.reason);
        return;
      }
      claims = result.claims;
    }
    // Without verifyClient, ws completes the upgrade synchronously (or answers a bad handshake
    // with 400 itself), so the cap above cannot be overrun by upgrades in flight.
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket, claims));
  }

  function onConnection(ws: WebSocket, socket: Duplex, claims: TokenClaims | undefined): void {
    const session = new Session(
      `${idPrefix}${(nextId++).toString(36)}`,
      ws,
      socket,
      claims,
      config.rateBurst,
      hub.schedule,
      clock(),
    );
    sessions.set(ws, session);
    armExpiry(session);
    metrics.accepted.inc();
    metrics.connections.set(sessions.size);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    session.reply({
      op: 'welcome',
      node: config.nodeName,
      session: session.id,
      version: VERSION,
      pingInterval: config.pingInterval,
      features: ['idempotency', 'refresh'],
      ...(claims?.sub === undefined ? {} : { sub: claims.sub }),
    });
    if (draining) ws.close(1012, 'service restart');
  }

  // Listeners shared by every connection (`this` is the socket): no closures per connection.
  function onPong(this: WebSocket): void {
    const session = sessions.get(this);
    if (session !== undefined) session.alive = true;
  }

  function onError(this: WebSocket, err: Error & { code?: string }): void {
    const session = sessions.get(this);
    log.debug({ session: session?.id, code: err.code, err }, 'connection error');
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
      metrics.disconnects.inc({ reason: 'oversize_frame' });
    else metrics.disconnects.inc({ reason: 'protocol_violation' });
  }

  function onClose(this: WebSocket): void {
    const session = sessions.get(this);
    if (session === undefined) return;
    clearTimeout(session.expiry);
    sessions.delete(this);
    hub.removeSession(session);
    metrics.connections.set(sessions.size);
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const session = sessions.get(this);
    if (session === undefined) return;
    try {
      handleFrame(session, data, isBinary);
    } catch (err) {
      failSession(session, 'message', err);
    }
  }

  /** Our fault, not the client's: 1011, and the node carries on. */
  function failSession(session: Session, where: HandlerSite, err: unknown): void {
    handlerFailed(where, err, session);
    metrics.disconnects.inc({ reason: 'internal_error' });
    try {
      session.ws.close(1011, 'internal error');
    } catch {
      session.ws.terminate();
    }
  }

  function handleFrame(session: Session, data: RawData, isBinary: boolean): void {
    metrics.framesReceived.inc();
    if (!take(session.bucket, config.rateLimit, config.rateBurst, clock())) {
      // One error frame per burst of dropped frames, so a flood cannot make us write a flood.
      if (!session.limited)
        protocolError(session, 'rate_limited', `more than ${config.rateLimit} frames per second`);
      session.limited = true;
      return;
    }
    session.limited = false;
    if (isBinary) {
      protocolError(session, 'binary_not_supported', 'send JSON text frames');
      return;
    }
    const parsed = parseClientFrame((data as Buffer).toString());
    if (!parsed.ok) {
      protocolError(session, parsed.code, parsed.message, parsed.id === undefined ? {} : { id: parsed.id });
      return;
    }
    dispatch(session, parsed.value);
  }

  function dispatch(session: Session, op: ClientOp): void {
    const withId = op.id === undefined ? {} : { id: op.id };
    switch (op.op) {
      case 'ping':
        session.reply({ op: 'pong', ...withId });
        return;
      case 'refresh':
        refresh(session, op.token, withId);
        return;
      case 'subscribe':
        hub.subscribe(session, op).catch((err: unknown) => failSession(session, 'subscribe', err));
        return;
      case 'unsubscribe':
        hub.unsubscribe(session, op.channel, op.id);
        return;
      case 'publish': {
        if (!config.clientPublish) {
          protocolError(session, 'publish_disabled', 'clients may not publish on this node', withId);
          return;
        }
        if (!channelAllowed(session.claims, op.channel)) {
          protocolError(session, 'forbidden', 'token does not allow this channel', {
            channel: op.channel,
            ...withId,
          });
          return;
        }
        hub
          .publish(op.channel, op.data, op.idempotencyKey)
          .then(
            (position) => {
              metrics.published.inc({ source: 'ws' });
              if (op.id !== undefined)
                session.reply({ op: 'ack', id: op.id, channel: op.channel, offset: position.offset });
            },
            (err: unknown) => {
              metrics.publishFailures.inc({ source: 'ws' });
              log.warn({ err, channel: op.channel, session: session.id }, 'publish failed');
              protocolError(session, 'publish_failed', 'publication could not be made durable; retry', {
                channel: op.channel,
                ...withId,
              });
            },
          )
          .catch((err: unknown) => failSession(session, 'publish', err));
        return;
      }
    }
  }

  /** Closes the connection with 4001 when its token expires; a refresh re-arms it. */
  function armExpiry(session: Session): void {
    clearTimeout(session.expiry);
    session.expiry = undefined;
    if (session.claims === undefined) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days); a later expiry re-arms on the way.
    const delay = Math.min(Math.max(0, msUntilExpiry(session.claims, Date.now())), 2 ** 31 - 1);
    session.expiry = setTimeout(() => {
      if (session.claims !== undefined && msUntilExpiry(session.claims, Date.now()) > 0) {
        armExpiry(session);
        return;
      }
      metrics.disconnects.inc({ reason: 'token_expired' });
      session.ws.close(TOKEN_EXPIRED.code, TOKEN_EXPIRED.reason);
    }, delay);
    session.expiry.unref();
  }

  function refresh(session: Session, token: string, withId: { id?: RequestId }): void {
    if (config.tokenSecret === undefined) {
      protocolError(session, 'bad_token', 'this node takes no tokens', withId);
      return;
    }
    const result = verifyToken(token, config.tokenSecret, Math.floor(Date.now() / 1000));
    if (!result.ok) {
      protocolError(session, 'bad_token', result.reason, withId);
      return;
    }
    if (result.claims.sub !== session.claims?.sub) {
      protocolError(session, 'bad_token', 'the token is for another subject', withId);
      return;
    }
    session.claims = result.claims;
    // Subscriptions the new token no longer allows end here.
    for (const channel of [...(session.channels ?? [])]) {
      if (!channelAllowed(result.claims, channel)) hub.unsubscribe(session, channel);
    }
    armExpiry(session);
    session.reply({ op: 'refreshed', exp: result.claims.exp, ...withId });
  }

  function startHeartbeat(): void {
    heartbeat = setInterval(() => {
      for (const session of sessions.values()) {
        if (!session.alive) {
          metrics.disconnects.inc({ reason: 'ping_timeout' });
          session.ws.terminate();
          continue;
        }
        session.alive = false;
        session.ws.ping();
      }
    }, config.pingInterval * 1000);
    heartbeat.unref();
  }

  /** Closes every client with 1012, spread evenly over the window so they do not all reconnect at once. */
  async function drain(windowMs: number): Promise<void> {
    const list = [...sessions.values()];
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [list[i], list[j]] = [list[j] as Session, list[i] as Session];
    }
    log.info({ connections: list.length, windowMs }, 'draining');
    const steps = Math.max(1, Math.min(list.length, Math.ceil(windowMs / 100)));
    const stepMs = windowMs / steps;
    let index = 0;
    for (let step = 0; step < steps && index < list.length; step++) {
      const count = Math.ceil((list.length - index) / (steps - step));
      for (const session of list.slice(index, index + count)) {
        metrics.disconnects.inc({ reason: 'drain' });
        session.ws.close(1012, 'service restart');
      }
      index += count;
      if (step < steps - 1) await new Promise((r) => setTimeout(r, stepMs));
    }
    // Give the close handshakes a moment, then cut whatever did not answer.
    const deadline = Date.now() + Math.min(2000, windowMs);
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const session of sessions.values()) session.ws.terminate();
  }

  const app: App = {
    metrics,
    get connections() {
      return sessions.size;
    },
    health,
    async start() {
      await broker.start(listener);
      metrics.brokerUp.set(broker.healthy() ? 1 : 0);
      const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
        try {
          handleHttp(req, res, { config, metrics, health, log, publish: (c, d, k) => hub.publish(c, d, k) });
        } catch (err) {
          handlerFailed('http', err);
          if (res.headersSent) res.destroy();
          else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
        }
      });
      srv.on('upgrade', onUpgrade);
      srv.on('clientError', (_err, socket) => socket.destroy());
      server = srv;
      const address = await listen(srv, config.port, config.host);
      startHeartbeat();
      return address;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        deps.onHealth?.(false, 'draining');
        await drain(config.drainSeconds * 1000);
        clearInterval(heartbeat);
        for (const socket of refused) socket.destroy();
        await broker.close();
        await closeServer(server);
        wss.close();
        log.info('app closed');
      })();
      return closing;
    },
  };
  return app;
}
