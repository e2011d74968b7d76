/**
 * An HTTPS proxy in front of Pebble 2.4, which has neither ARI (RFC 9773) nor profiles. It
 * forwards every request as is, Host header included, so Pebble writes the proxy's address into
 * its URLs and checks each JWS `url` against it. On top it:
 * - adds `renewalInfo` (and `meta.profiles`) to the directory and answers
 *   `GET <renewalInfo>/<certID>` with the window a test set (`setWindow`);
 * - records the decoded payload of every newOrder, so tests see `replaces` and `profile`;
 * - answers the next newOrder(s) with a problem document a test queued (`failNewOrder`);
 * - notes the problem types Pebble answers with (`upstreamProblems`), e.g. its badNonce;
 * - counts finalize requests (`finalizes`), and remembers the certIDs of the certificates it
 *   handed out, so that with `refuseForeignReplaces()` it refuses a newOrder whose `replaces`
 *   names a certificate this CA never issued, as a production CA refuses a staging one.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { certificateInfo } from '../../daemons/shared/certificate-info.ts';

export interface Window {
  readonly start: Date;
  readonly end: Date;
}

export interface InjectedProblem {
  /** Short ACME type, e.g. `rateLimited`; sent as urn:ietf:params:acme:error:<type>. */
  readonly type: string;
  readonly detail: string;
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly subproblems?: readonly unknown[];
}

export interface RecordedOrder {
  readonly protectedHeader: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
}

export interface AriProxy {
  /** The directory URL clients use instead of Pebble's. */
  readonly directoryUrl: string;
  /** The `renewalInfo` base URL the directory advertises. */
  readonly renewalInfoUrl: string;
  /** Payloads of every newOrder seen, in order (also those answered with an injected problem). */
  readonly newOrders: readonly RecordedOrder[];
  /** certIDs asked for at renewalInfo, in order. */
  readonly renewalInfoRequests: readonly string[];
  /** Short types of the problem documents Pebble itself answered with, in order. */
  readonly upstreamProblems: readonly string[];
  /** Paths of the finalize requests seen, in order. */
  readonly finalizes: readonly string[];
  /** From now on, refuse (`malformed`) a newOrder whose `replaces` is not a certificate issued here. */
  refuseForeignReplaces(): void;
  /** The window served for `certId` (or any certificate with '*'); undefined serves 404. */
  setWindow(certId: string, window: Window | undefined, retryAfterSeconds?: number): void;
  /** Answers the next `times` newOrder requests with this problem instead of forwarding them. */
  failNewOrder(problem: InjectedProblem, times?: number): void;
  close(): Promise<void>;
}

export interface AriProxyOptions {
  /** Pebble's directory URL, `https://127.0.0.1:<port>/dir`. */
  readonly upstreamDirectoryUrl: string;
  /** Trust for the upstream's certificate. */
  readonly caPem: string;
  /** What the proxy presents (Pebble's own leaf for 127.0.0.1 does). */
  readonly certPem: string;
  readonly keyPem: string;
  /** Profiles to advertise in `meta.profiles`. */
  readonly profiles?: Readonly<Record<string, string>>;
}

const RENEWAL_INFO_PATH = '/renewal-info';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

export async function startAriProxy(options: AriProxyOptions): Promise<AriProxy> {
  const upstream = new URL(options.upstreamDirectoryUrl);
  const directoryPath = upstream.pathname;
  const windows = new Map<string, { window: Window; retryAfterSeconds: number | undefined }>();
  const failures: InjectedProblem[] = [];
  const newOrders: RecordedOrder[] = [];
  const renewalInfoRequests: string[] = [];
  const upstreamProblems: string[] = [];
  const finalizes: string[] = [];
  const issued = new Set<string>();
  let strictReplaces = false;
  let newOrderPath = '/order-plz';
  let origin = '';

  const server = createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy error: ${err instanceof Error ? err.message : String(err)}`);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req);
    const path = req.url ?? '/';
    if (req.method === 'GET' && path.startsWith(`${RENEWAL_INFO_PATH}/`)) {
      serveRenewalInfo(decodeURIComponent(path.slice(RENEWAL_INFO_PATH.length + 1)), res);
      return;
    }
    if (req.method === 'POST' && path === newOrderPath) {
      const order = decodeJws(body);
      newOrders.push(order);
      const problem = failures.shift();
      if (problem !== undefined) {
        sendProblem(res, problem);
        return;
      }
      const replaces = order.payload.replaces;
      if (strictReplaces && typeof replaces === 'string' && !issued.has(replaces)) {
        sendProblem(res, {
          type: 'malformed',
          detail: `replaces: certificate ${replaces} was not issued by this CA`,
          status: 400,
        });
        return;
      }
    }
    if (req.method === 'POST' && path.includes('/finalize')) finalizes.push(path);
    const upstreamRes = await forward(req, body);
    const upstreamBody = await readAll(upstreamRes);
    const headers = copyHeaders(upstreamRes.headers);
    let out = upstreamBody;
    if (String(upstreamRes.headers['content-type']).startsWith('application/problem+json')) {
      const type = (JSON.parse(upstreamBody.toString()) as { type?: string }).type ?? '';
      upstreamProblems.push(type.replace('urn:ietf:params:acme:error:', ''));
    }
    if (String(upstreamRes.headers['content-type']).startsWith('application/pem-certificate-chain')) {
      const certId = certificateInfo(upstreamBody.toString()).ariCertId;
      if (certId !== undefined) issued.add(certId);
    }
    if (req.method === 'GET' && path === directoryPath && upstreamRes.statusCode === 200) {
      out = Buffer.from(JSON.stringify(rewriteDirectory(JSON.parse(upstreamBody.toString()))));
    }
    res.writeHead(upstreamRes.statusCode ?? 502, { ...headers, 'content-length': String(out.length) });
    res.end(out);
  }

  function rewriteDirectory(directory: Record<string, unknown>): Record<string, unknown> {
    if (typeof directory.newOrder === 'string') newOrderPath = new URL(directory.newOrder).pathname;
    const meta = (directory.meta ?? {}) as Record<string, unknown>;
    return {
      ...directory,
      renewalInfo: `${origin}${RENEWAL_INFO_PATH}`,
      meta: { ...meta, ...(options.profiles === undefined ? {} : { profiles: options.profiles }) },
    };
  }

  function serveRenewalInfo(certId: string, res: ServerResponse): void {
    renewalInfoRequests.push(certId);
    const entry = windows.get(certId) ?? windows.get('*');
    if (entry === undefined) {
      sendProblem(res, { type: 'malformed', detail: `no renewal information for ${certId}`, status: 404 });
      return;
    }
    const text = JSON.stringify({
      suggestedWindow: { start: entry.window.start.toISOString(), end: entry.window.end.toISOString() },
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      ...(entry.retryAfterSeconds === undefined ? {} : { 'retry-after': String(entry.retryAfterSeconds) }),
    });
    res.end(text);
  }

  function forward(req: IncomingMessage, body: Buffer): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers = copyHeaders(req.headers);
      const out = request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          // Host stays the proxy's: Pebble builds URLs from it and checks JWS `url` against it.
          headers: { ...headers, host: req.headers.host ?? '', 'content-length': String(body.length) },
          ca: options.caPem,
          agent: false,
          timeout: 10_000,
        },
        resolve,
      );
      out.on('timeout', () => out.destroy(new Error('upstream timed out')));
      out.on('error', reject);
      out.end(body);
    });
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    directoryUrl: `${origin}${directoryPath}`,
    renewalInfoUrl: `${origin}${RENEWAL_INFO_PATH}`,
    newOrders,
    renewalInfoRequests,
    upstreamProblems,
    finalizes,
    refuseForeignReplaces() {
      strictReplaces = true;
    },
    setWindow(certId, window, retryAfterSeconds) {
      if (window === undefined) windows.delete(certId);
      else windows.set(certId, { window, retryAfterSeconds });
    },
    failNewOrder(problem, times = 1) {
      for (let i = 0; i < times; i++) failures.push(problem);
    },
    async close() {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function sendProblem(res: ServerResponse, problem: InjectedProblem): void {
  const text = JSON.stringify({
    type: `urn:ietf:params:acme:error:${problem.type}`,
    detail: problem.detail,
    status: problem.status,
    ...(problem.subproblems === undefined ? {} : { subproblems: problem.subproblems }),
  });
  res.writeHead(problem.status, {
    'content-type': 'application/problem+json',
    'content-length': String(Buffer.byteLength(text)),
    ...(problem.retryAfterSeconds === undefined ? {} : { 'retry-after': String(problem.retryAfterSeconds) }),
  });
  res.end(text);
}

/** The protected header and payload of a flattened JWS (RFC 7515 §7.2.2) body. */
export function decodeJws(body: Buffer): RecordedOrder {
  const jws = JSON.parse(body.toString()) as { protected?: string; payload?: string };
  const decode = (part: string | undefined): Record<string, unknown> =>
    part === undefined || part === ''
      ? {}
      : (JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
  return { protectedHeader: decode(jws.protected), payload: decode(jws.payload) };
}

function copyHeaders(headers: NodeJS.Dict<string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
