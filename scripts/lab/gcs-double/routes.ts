/**
 * The requests the GCS double answers: the JSON API paths of bucket get and objects
 * insert/get/patch/delete/list, with GCS's response headers and bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DoubleBuckets, ListQuery } from './buckets.ts';
import { type DoubleObject, errors, GcsHttpError, objectResource, readPreconditions } from './model.ts';
import { parseMultipart, ResumableUploads } from './uploads.ts';

const MAX_BODY = 64 * 1024 * 1024;

export function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: GcsHttpError): void {
  if (err.status === 304) res.writeHead(304).end();
  else sendJson(res, err.status, err.body());
}

function sendMedia(res: ServerResponse, o: DoubleObject): void {
  res.writeHead(200, {
    'content-type': o.contentType,
    'content-length': o.data.length,
    'x-goog-generation': o.generation,
    'x-goog-metageneration': o.metageneration,
    'x-goog-hash': `crc32c=${o.crc32c},md5=${o.md5Hash}`,
    'x-goog-stored-content-encoding': 'identity',
    'x-goog-stored-content-length': String(o.data.length),
    'last-modified': new Date(o.updated).toUTCString(),
    'cache-control': 'no-store',
  });
  res.end(o.data);
}

function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {}
  throw errors.invalid('Invalid JSON payload received.');
}

function optionalNumber(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^[0-9]+$/.test(value) || Number(value) === 0)
    throw errors.invalid(`Invalid value for ${name}: ${value}`);
  return Number(value);
}

/**
 * The handler of every request that reached the API (after any injected fault). Links in the
 * answers are rooted at `url.origin`, the origin the client called.
 */
export function createRoutes(
  buckets: DoubleBuckets,
): (req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer) => void {
  const uploads = new ResumableUploads(buckets);

  function route(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer) {
    const method = req.method ?? 'GET';
    const origin = url.origin;
    const query = url.searchParams;
    const path = url.pathname;
    let m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (m?.[1] !== undefined && method === 'GET') {
      const name = decodeURIComponent(m[1]);
      buckets.bucket(name);
      return sendJson(res, 200, {
        kind: 'storage#bucket',
        id: name,
        name,
        selfLink: `${origin}/storage/v1/b/${encodeURIComponent(name)}`,
        projectNumber: '0',
        metageneration: '1',
        location: 'US',
        storageClass: 'STANDARD',
        timeCreated: buckets.created,
        updated: buckets.created,
        iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
        etag: 'CAE=',
      });
    }
    m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m?.[1] !== undefined && method === 'GET') {
      const list: ListQuery = {
        prefix: query.get('prefix') ?? undefined,
        delimiter: query.get('delimiter') || undefined,
        startOffset: query.get('startOffset') ?? undefined,
        endOffset: query.get('endOffset') ?? undefined,
        maxResults: optionalNumber(query, 'maxResults'),
        pageToken: query.get('pageToken') ?? undefined,
      };
      const page = buckets.list(decodeURIComponent(m[1]), list);
      return sendJson(res, 200, {
        kind: 'storage#objects',
        ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
        ...(page.prefixes.length === 0 ? {} : { prefixes: page.prefixes }),
        ...(page.items.length === 0 ? {} : { items: page.items.map((o) => objectResource(o, origin)) }),
      });
    }
    m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m?.[1] !== undefined) {
      const bucket = decodeURIComponent(m[1]);
      const uploadId = query.get('upload_id');
      if (uploadId !== null && (method === 'PUT' || method === 'POST')) {
        const result = uploads.put(uploadId, req.headers['content-range'], body);
        if (result.status === 200) return sendJson(res, 200, objectResource(result.object, origin));
        const range = result.persisted > 0 ? { range: `bytes=0-${result.persisted - 1}` } : {};
        res.writeHead(308, { 'content-length': 0, ...range });
        return void res.end();
      }
      if (uploadId !== null && method === 'DELETE') {
        uploads.cancel(uploadId);
        return void res.writeHead(499, { 'content-length': 0 }).end();
      }
      if (method === 'POST') return insert(req, res, origin, bucket, query, body);
    }
    m = /^\/(download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (m?.[2] !== undefined && m[3] !== undefined) {
      const bucket = decodeURIComponent(m[2]);
      const name = decodeURIComponent(m[3]);
      const pre = readPreconditions(query);
      if (method === 'GET') {
        const object = buckets.get(bucket, name, query.get('generation'), pre);
        if (m[1] !== undefined || query.get('alt') === 'media') return sendMedia(res, object);
        return sendJson(res, 200, objectResource(object, origin));
      }
      if (method === 'DELETE') {
        buckets.delete(bucket, name, query.get('generation'), pre);
        return void res.writeHead(204).end();
      }
      if (method === 'PATCH')
        return sendJson(res, 200, objectResource(buckets.patch(bucket, name, parseJson(body), pre), origin));
    }
    throw new GcsHttpError(404, 'notFound', 'Not Found');
  }

  function insert(
    req: IncomingMessage,
    res: ServerResponse,
    origin: string,
    bucket: string,
    query: URLSearchParams,
    body: Buffer,
  ) {
    const pre = readPreconditions(query);
    const type = query.get('uploadType');
    if (type === 'media') {
      const object = buckets.insert(
        bucket,
        query.get('name') ?? undefined,
        { data: body, contentType: req.headers['content-type'] },
        pre,
      );
      return sendJson(res, 200, objectResource(object, origin));
    }
    if (type === 'multipart') {
      const [meta, media] = parseMultipart(body, req.headers['content-type']);
      if (meta === undefined || media === undefined)
        throw errors.invalid('A multipart upload has two parts.');
      const metadata = parseJson(meta.body);
      const object = buckets.insert(
        bucket,
        query.get('name') ?? (typeof metadata.name === 'string' ? metadata.name : undefined),
        {
          data: media.body,
          contentType: typeof metadata.contentType === 'string' ? metadata.contentType : media.contentType,
          metadata: metadata.metadata as Record<string, string> | undefined,
          md5Hash: metadata.md5Hash,
          crc32c: metadata.crc32c,
        },
        pre,
      );
      return sendJson(res, 200, objectResource(object, origin));
    }
    if (type === 'resumable') {
      const name = query.get('name') ?? undefined;
      const header = req.headers['x-upload-content-type'];
      const id = uploads.start(
        bucket,
        name,
        parseJson(body),
        typeof header === 'string' ? header : undefined,
        pre,
      );
      const started = new URL(`${origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o`);
      started.searchParams.set('uploadType', 'resumable');
      if (name !== undefined) started.searchParams.set('name', name);
      started.searchParams.set('upload_id', id);
      res.writeHead(200, { location: started.href, 'content-length': 0 });
      return void res.end();
    }
    throw errors.invalid(`Invalid upload type: ${type ?? '(none)'}`);
  }

  return route;
}
