/**
 * Deciding on a WebSocket upgrade: the path, the drain, the connection cap, the Origin and the
 * token, in that order; a refused upgrade is answered with a plain HTTP status and ended.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../shared/logger.ts';
import type { AppConfig } from './config.ts';
import type { ErrorBoundary } from './error-boundary.ts';
import type { AppMetrics } from './metrics.ts';
import { originAllowed } from './origin.ts';
import { type TokenClaims, tokenFromRequest, verifyToken } from './token.ts';

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

export interface UpgradeDeps {
  readonly config: AppConfig;
  readonly log: Logger;
  readonly metrics: AppMetrics;
  readonly wss: WebSocketServer;
  readonly boundary: ErrorBoundary;
  draining(): boolean;
  connections(): number;
  /** An upgrade that passed every check and completed. */
  onConnection(ws: WebSocket, socket: Duplex, claims: TokenClaims | undefined): void;
}

export interface Upgrades {
  /** The HTTP server's 'upgrade' listener; never throws. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Destroys the sockets of refused upgrades whose peers have not closed them yet. */
  destroyRefused(): void;
}

export function createUpgrades(deps: UpgradeDeps): Upgrades {
  const { config, log, metrics } = deps;
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

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = parseTarget(req.url);
    if (target.path !== '/ws') {
      metrics.rejected.inc({ reason: 'not_found' });
      refuse(socket, 404, 'Not Found', 'WebSocket endpoint is /ws');
      return;
    }
    if (deps.draining()) {
      metrics.rejected.inc({ reason: 'draining' });
      refuse(socket, 503, 'Service Unavailable', 'node is draining; connect again');
      return;
    }
    if (deps.connections() >= config.maxConnections) {
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
    deps.wss.handleUpgrade(req, socket, head, (ws) => deps.onConnection(ws, socket, claims));
  }

  return {
    handle(req, socket, head) {
      socket.on('error', () => socket.destroy());
      try {
        upgrade(req, socket, head);
      } catch (err) {
        deps.boundary.handlerFailed('upgrade', err);
        if (socket.writable && !socket.writableEnded)
          refuse(socket, 500, 'Internal Server Error', 'internal error');
        else socket.destroy();
      }
    },
    destroyRefused() {
      for (const socket of refused) socket.destroy();
    },
  };
}
