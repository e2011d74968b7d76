/**
 * A stand-in for the Google Cloud Storage JSON API v1, in memory: the tests' double and the lab's
 * bucket (`wsfleet lab gcs-double`). It is faithful enough for the real @google-cloud/storage
 * client pointed at it with `apiEndpoint`; over plain http:// the client sends no credentials
 * (daemons/shared/store/gcs-store.ts `endpointNeedsAuth`), so it may listen on a lab network as
 * well as on loopback. Links it answers (resumable upload sessions, selfLink) are rooted at the
 * Host the client called. It serves bucket get; objects insert (`uploadType=media`, `multipart`,
 * `resumable`), get (metadata and `alt=media`), patch, delete and list; generations,
 * metagenerations and the if*Match preconditions; GCS's JSON error bodies. Not served: ACLs,
 * versioning (older generations), compose/copy/rewrite, range reads, gzip transcoding, XML API.
 *
 * For outage tests `fail()` makes the next requests answer an error status, or never answer, or
 * lose their answer after being carried out, or stops listening altogether until
 * `fail({ kind: 'none' })`.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import { type AddressInfo, isIPv6 } from 'node:net';
import { Storage, type StorageOptions } from '@google-cloud/storage';
import { DoubleBuckets } from './buckets.ts';
import { type DoubleObject, errors, GcsHttpError } from './model.ts';
import { createRoutes, readAll, sendError } from './routes.ts';

export type { DoubleObject } from './model.ts';

export type GcsFault =
  /** The next `count` requests answer `status` with a GCS error body. */
  | ({ readonly kind: 'status'; readonly status: number; readonly count: number } & Only)
  /** The next `count` requests (all, without count) are never answered. */
  | ({ readonly kind: 'hang'; readonly count?: number } & Only)
  /** The next `count` requests are carried out, but the connection drops before the answer. */
  | ({ readonly kind: 'lose-answer'; readonly count: number } & Only)
  /** The double stops listening: connections are refused. */
  | { readonly kind: 'down' }
  | { readonly kind: 'none' };

/** Limits a fault to the requests `when` accepts; the others are served and not counted. */
interface Only {
  readonly when?: (request: RecordedRequest) => boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
}

export interface GcsDoubleOptions {
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port to listen on (default 0: one the kernel picks). */
  readonly port?: number;
  /** The buckets it serves, all empty at first (default `wsfleet-test`). */
  readonly buckets?: readonly string[];
  /** Whether `requests` keeps every request (default true; a long-running lab turns it off). */
  readonly recordRequests?: boolean;
}

export interface GcsDouble {
  /** The address and port it listens on. */
  readonly host: string;
  readonly port: number;
  /** The JSON API root, `http://HOST:PORT/storage/v1`. */
  readonly url: string;
  /** What the client takes as `apiEndpoint`: `http://HOST:PORT`. */
  readonly apiEndpoint: string;
  /** Every live object, by `bucket/name`. */
  readonly objects: ReadonlyMap<string, DoubleObject>;
  /** Every request received, in order (none with `recordRequests: false`). */
  readonly requests: readonly RecordedRequest[];
  /** A client for the double, retrying fast; `options` override its settings. */
  storage(options?: StorageOptions): Storage;
  fail(fault: GcsFault): Promise<void>;
  stop(): Promise<void>;
}

const REASONS: Record<number, string> = {
  401: 'required',
  403: 'forbidden',
  429: 'rateLimitExceeded',
  500: 'internalError',
  502: 'badGateway',
  503: 'backendError',
  504: 'gatewayTimeout',
};

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The origin of a request: the Host it called, or the listening address without a usable one. */
function requestOrigin(req: IncomingMessage, fallback: string): string {
  if (req.headers.host === undefined) return fallback;
  try {
    return new URL(`http://${req.headers.host}`).origin;
  } catch {
    return fallback;
  }
}

export async function startGcsDouble(options: GcsDoubleOptions = {}): Promise<GcsDouble> {
  const host = options.host ?? '127.0.0.1';
  const buckets = new DoubleBuckets(options.buckets ?? ['wsfleet-test']);
  const route = createRoutes(buckets);
  const record = options.recordRequests ?? true;
  const requests: RecordedRequest[] = [];
  const hung = new Set<ServerResponse>();
  let fault: { kind: GcsFault['kind']; status?: number; remaining?: number } & Only = { kind: 'none' };
  let origin = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', requestOrigin(req, origin));
    const request = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams };
    if (record) requests.push(request);
    if (!(fault.when?.(request) ?? true)) return serve(req, res, url);
    if (fault.kind === 'status' && (fault.remaining ?? 0) > 0) {
      fault.remaining = (fault.remaining ?? 0) - 1;
      await readAll(req);
      const status = fault.status ?? 503;
      return sendError(
        res,
        new GcsHttpError(status, REASONS[status] ?? 'error', `Injected failure: HTTP ${status}`),
      );
    }
    if (fault.kind === 'hang' && (fault.remaining === undefined || fault.remaining > 0)) {
      if (fault.remaining !== undefined) fault.remaining -= 1;
      hung.add(res);
      req.resume();
      return;
    }
    if (fault.kind === 'lose-answer' && (fault.remaining ?? 0) > 0) {
      fault.remaining = (fault.remaining ?? 0) - 1;
      // Served into a response bound to no socket, while the client's connection drops.
      const lost = new ServerResponse(req);
      await serve(req, lost, url);
      res.socket?.destroy();
      return;
    }
    return serve(req, res, url);
  }

  async function serve(req: IncomingMessage, answer: ServerResponse, url: URL): Promise<void> {
    const body = await readAll(req);
    try {
      route(req, answer, url, body);
    } catch (err) {
      if (err instanceof GcsHttpError) return sendError(answer, err);
      if (err instanceof URIError) return sendError(answer, errors.invalid('Invalid percent-encoding.'));
      sendError(
        answer,
        new GcsHttpError(500, 'internalError', err instanceof Error ? err.message : String(err)),
      );
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : undefined));
  });
  await listen(server, options.port ?? 0, host);
  // The port the kernel picked stays the double's: `fail({ kind: 'down' })` listens there again.
  const { port } = server.address() as AddressInfo;
  origin = `http://${isIPv6(host) ? `[${host}]` : host}:${port}`;

  function releaseHung(): void {
    for (const res of hung) res.destroy();
    hung.clear();
  }

  async function close(): Promise<void> {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  return {
    host,
    port,
    url: `${origin}/storage/v1`,
    apiEndpoint: origin,
    objects: buckets.objects,
    requests,
    storage(overrides = {}) {
      return new Storage({
        apiEndpoint: origin,
        projectId: 'wsfleet-test',
        retryOptions: { maxRetries: 2, maxRetryDelay: 1, totalTimeout: 10 },
        ...overrides,
      });
    },
    async fail(next) {
      releaseHung();
      if (next.kind === 'down') {
        fault = { kind: 'down' };
        await close();
        return;
      }
      if (!server.listening) await listen(server, port, host);
      const when = next.kind === 'none' ? undefined : next.when;
      fault =
        next.kind === 'status'
          ? { kind: 'status', status: next.status, remaining: next.count, when }
          : next.kind === 'hang' || next.kind === 'lose-answer'
            ? { kind: next.kind, remaining: next.count, when }
            : { kind: 'none' };
    },
    async stop() {
      releaseHung();
      await close();
    },
  };
}
