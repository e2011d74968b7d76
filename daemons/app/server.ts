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
import { monotonicNow } from '../shared/token-bucket.ts';
import { VERSION } from '../shared/version.ts';
import type { Broker } from './broker.ts';
import { createClientFrames } from './client-frames.ts';
import type { AppConfig } from './config.ts';
import { drainSessions } from './drain.ts';
import { createErrorBoundary } from './error-boundary.ts';
import { type Health, readiness } from './health.ts';
import { startHeartbeat } from './heartbeat.ts';
import { handleHttp } from './http-api.ts';
import { Hub } from './hub.ts';
import { createMemoryBroker } from './memory-broker.ts';
import { type AppMetrics, createAppMetrics } from './metrics.ts';
import { createRedisBroker } from './redis-broker.ts';
import { redisConnectionOf } from './redis-connection.ts';
import { Session } from './session.ts';
import { PROTOCOL, TOKEN_PROTOCOL_PREFIX, type TokenClaims } from './token.ts';
import { createUpgrades } from './upgrade.ts';

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

  const boundary = createErrorBoundary(metrics, log);
  const frames = createClientFrames({ config, log, metrics, hub, boundary, clock });
  const upgrades = createUpgrades({
    config,
    log,
    metrics,
    wss,
    boundary,
    draining: () => draining,
    connections: () => sessions.size,
    onConnection,
  });

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
    frames.armExpiry(session);
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
      frames.handle(session, data, isBinary);
    } catch (err) {
      boundary.failSession(session, 'message', err);
    }
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
          boundary.handlerFailed('http', err);
          if (res.headersSent) res.destroy();
          else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
        }
      });
      srv.on('upgrade', upgrades.handle);
      srv.on('clientError', (_err, socket) => socket.destroy());
      server = srv;
      const address = await listen(srv, config.port, config.host);
      heartbeat = startHeartbeat(sessions, config.pingInterval * 1000, metrics);
      return address;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        deps.onHealth?.(false, 'draining');
        await drainSessions(sessions, config.drainSeconds * 1000, metrics, log);
        clearInterval(heartbeat);
        upgrades.destroyRefused();
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
