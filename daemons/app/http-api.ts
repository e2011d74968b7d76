/**
 * HTTP on the app's port: GET /livez (the process serves: what autohealing checks), GET /readyz
 * (the node can publish and deliver: what the load balancer checks; /healthz is its alias),
 * GET /metrics, POST /api/publish for backends, GET / the demo page.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyError, readBody, sendJson, sendText, serveMetrics } from '../shared/http.ts';
import type { Logger } from '../shared/logger.ts';
import type { Published } from './broker.ts';
import type { AppConfig } from './config.ts';
import { demoPage } from './demo-page.ts';
import type { Health } from './health.ts';
import { exceedsDepth, MAX_DATA_DEPTH } from './json-depth.ts';
import type { AppMetrics } from './metrics.ts';
import { isIdempotencyKey, isValidChannel } from './protocol.ts';

export interface HttpContext {
  readonly config: AppConfig;
  readonly metrics: AppMetrics;
  readonly log: Logger;
  readonly health: () => Health;
  readonly publish: (channel: string, data: string, idempotencyKey?: string) => Promise<Published>;
}

function apiError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

function bearerMatches(header: string | undefined, key: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (match === null) return false;
  const given = Buffer.from(match[1] as string);
  const expected = Buffer.from(key);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function publishApi(req: IncomingMessage, res: ServerResponse, ctx: HttpContext): Promise<void> {
  const key = ctx.config.apiKey;
  if (key === undefined) {
    apiError(res, 403, 'api_disabled', 'the publish API is off: start the node with --api-key');
    return;
  }
  if (!bearerMatches(req.headers.authorization, key)) {
    res.setHeader('www-authenticate', 'Bearer');
    apiError(res, 401, 'unauthorized', 'missing or wrong Authorization: Bearer <api key>');
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse((await readBody(req, ctx.config.maxMessageBytes)).toString());
  } catch (err) {
    if (err instanceof BodyError) apiError(res, err.status, 'too_large', err.message);
    else apiError(res, 400, 'bad_json', 'body must be JSON: {"channel": "...", "data": ...}');
    return;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    apiError(res, 400, 'bad_request', 'body must be a JSON object {"channel": "...", "data": ...}');
    return;
  }
  const { channel, data, idempotencyKey } = body as {
    channel?: unknown;
    data?: unknown;
    idempotencyKey?: unknown;
  };
  if (!isValidChannel(channel)) {
    apiError(res, 400, 'bad_channel', '"channel" must be 1–200 characters of [A-Za-z0-9_.:@/=-]');
    return;
  }
  if (data === undefined) {
    apiError(res, 400, 'bad_request', '"data" is required');
    return;
  }
  if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
    apiError(res, 400, 'bad_request', '"idempotencyKey" must be a string of 1 to 64 characters');
    return;
  }
  if (exceedsDepth(data, MAX_DATA_DEPTH)) {
    apiError(res, 400, 'data_too_deep', `"data" may nest at most ${MAX_DATA_DEPTH} levels deep`);
    return;
  }
  try {
    const position = await ctx.publish(channel, JSON.stringify(data), idempotencyKey);
    (position.duplicate ? ctx.metrics.deduplicated : ctx.metrics.published).inc({ source: 'api' });
    sendJson(res, 200, { channel, offset: position.offset, epoch: position.epoch });
  } catch (err) {
    ctx.metrics.publishFailures.inc({ source: 'api' });
    ctx.log.warn({ err, channel }, 'API publish failed');
    apiError(res, 503, 'publish_failed', 'publication could not be made durable; retry');
  }
}

export function handleHttp(req: IncomingMessage, res: ServerResponse, ctx: HttpContext): void {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  const route = `${method} ${path}`;
  const fail = (err: unknown) => {
    ctx.log.error({ err, route }, 'request failed');
    if (!res.headersSent) apiError(res, 500, 'internal', 'internal error');
    else res.destroy();
  };
  switch (route) {
    case 'GET /livez':
    case 'HEAD /livez':
      // Answering at all is the whole check: a node that waits for Redis or drains is alive,
      // and replacing it would not help.
      sendJson(res, 200, { status: 'live' });
      return;
    case 'GET /readyz':
    case 'HEAD /readyz':
    case 'GET /healthz':
    case 'HEAD /healthz': {
      const { ready, reasons } = ctx.health();
      if (ready) sendJson(res, 200, { status: 'ready' });
      else sendJson(res, 503, { status: 'unready', reasons });
      return;
    }
    case 'GET /metrics':
      serveMetrics(ctx.metrics.registry, res).catch(fail);
      return;
    case 'POST /api/publish':
      publishApi(req, res, ctx).catch(fail);
      return;
    case 'GET /':
    case 'HEAD /':
    case 'GET /index.html': {
      const html = demoPage();
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(html),
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:",
        'x-content-type-options': 'nosniff',
      });
      res.end(html);
      return;
    }
    default:
      if (['/api/publish', '/healthz', '/livez', '/readyz', '/metrics'].includes(path ?? '')) {
        sendText(res, 405, 'method not allowed\n');
        return;
      }
      sendText(res, 404, 'not found\n');
  }
}
