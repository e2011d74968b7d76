/**
 * Small HTTP helpers the daemons share: JSON and text replies, bounded body reading, the
 * `/metrics` handler, listening and closing, and the admin listener (/metrics, /healthz).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export class BodyError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'BodyError';
    this.status = status;
  }
}

/** Reads a request body of at most `limit` bytes; rejects with a BodyError (413) beyond. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyError(413, `body larger than ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyError(413, `body larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(err));
  });
}

export async function serveMetrics(registry: Registry, res: ServerResponse): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts listening; resolves with the address once the port is bound. */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting, cuts open connections (keep-alive ones too), resolves once closed. */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

export interface AdminServer {
  readonly server: Server;
  start(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * The daemons' admin listener: GET /metrics (Prometheus text) and GET /healthz (JSON, with the
 * status the daemon's health function gives), everything else 404.
 */
export function createAdminServer(
  registry: Registry,
  health: () => { readonly status: number; readonly body: unknown },
): AdminServer {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      serveMetrics(registry, res).catch(() => res.destroy());
    } else if (req.method === 'GET' && path === '/healthz') {
      const h = health();
      sendJson(res, h.status, h.body);
    } else {
      sendText(res, 404, 'not found\n');
    }
  });
  return {
    server,
    start: (port, host) => listen(server, port, host),
    close: () => closeServer(server),
  };
}
