/**
 * The lab's stand-ins for what an app VM asks Google at boot, in one HTTP server:
 *
 *   GET /computeMetadata/v1/instance/service-accounts/default/token
 *       the metadata server: the VM account's access token, only with `Metadata-Flavor: Google`
 *       (else 403, as GCE answers), never to a request that was forwarded (X-Forwarded-For)
 *   GET /v1/projects/P/secrets/S/versions/V:access
 *       Secret Manager: the value of secret S with its CRC32C (`dataCrc32c`, a decimal string),
 *       only with that token as Bearer (else 401 UNAUTHENTICATED); 404 NOT_FOUND for a secret it
 *       does not hold
 *   GET /v1/projects/P/locations/R/instances/I/authString
 *       Memorystore's getAuthString: `{"authString": …}`, with the same token
 *
 * The values are files read at each request (`<secrets>/<project>/<secret>`, `<redisAuthFile>`),
 * so they can be made, changed or removed while it runs; it keeps no state of its own. Only the
 * latest version of a secret exists: `latest` and `1` name it. Error bodies are Google's JSON
 * form (`{"error":{"code","message","status"}}`).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { crc32c } from '../../../daemons/app/crc32c.ts';

export interface GoogleDoubleOptions {
  readonly host: string;
  readonly port: number;
  /** Folder of secret values, one file per secret: `<project>/<secret>`. */
  readonly secretsDir: string;
  /** File holding the Redis AUTH string; unset: every getAuthString answers 404. */
  readonly redisAuthFile?: string;
}

export interface GoogleDouble {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

const ACCESS =
  /^\/v1\/projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})\/versions\/(latest|1):access$/;
const AUTH_STRING =
  /^\/v1\/(projects\/[a-z0-9-]+\/locations\/[a-z0-9-]+\/instances\/[a-z0-9-]+)\/authString$/;
const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify(body));
}

function googleError(res: ServerResponse, code: number, status: string, message: string): void {
  sendJson(res, code, { error: { code, message, status } });
}

/** The file's content, or undefined when there is none. */
async function readValue(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function startGoogleDouble(options: GoogleDoubleOptions): Promise<GoogleDouble> {
  // One token for the life of the process, as a VM account's lasts an hour or so.
  const token = `ya29.lab-${randomBytes(24).toString('base64url')}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://double').pathname;
    if (req.method !== 'GET')
      return googleError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not served`);
    if (path === TOKEN_PATH) {
      if (req.headers['metadata-flavor'] !== 'Google' || req.headers['x-forwarded-for'] !== undefined) {
        res.writeHead(403, { 'content-type': 'text/html; charset=UTF-8' });
        res.end('Missing required header: "Metadata-Flavor"\n');
        return;
      }
      return sendJson(
        res,
        200,
        { access_token: token, expires_in: 3599, token_type: 'Bearer' },
        { 'metadata-flavor': 'Google' },
      );
    }
    const access = ACCESS.exec(path);
    const auth = AUTH_STRING.exec(path);
    if (access === null && auth === null) return googleError(res, 404, 'NOT_FOUND', `${path} is not served`);
    if (req.headers.authorization !== `Bearer ${token}`)
      return googleError(
        res,
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    if (access !== null) {
      const [, project = '', secret = ''] = access;
      const value = await readValue(join(options.secretsDir, project, secret));
      if (value === undefined)
        return googleError(
          res,
          404,
          'NOT_FOUND',
          `Secret [projects/${project}/secrets/${secret}] not found or has no versions.`,
        );
      return sendJson(res, 200, {
        name: `projects/${project}/secrets/${secret}/versions/1`,
        payload: { data: value.toString('base64'), dataCrc32c: String(crc32c(value)) },
      });
    }
    const instance = auth?.[1] ?? '';
    const value = options.redisAuthFile === undefined ? undefined : await readValue(options.redisAuthFile);
    if (value === undefined)
      return googleError(res, 404, 'NOT_FOUND', `Resource '${instance}' was not found`);
    return sendJson(res, 200, { authString: value.toString('utf8').trim() });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) googleError(res, 500, 'INTERNAL', (err as Error).message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
