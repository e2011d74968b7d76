/**
 * `wsfleet app redis-auth`, the root oneshot of an app VM, against a local stand-in of the
 * metadata server and the Redis API (instances.getAuthString answers as Google documents it).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../daemons/app/redis-auth-command.ts';

const INSTANCE = 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis';
const TOKEN = 'ya29.vm-account-token';

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

let server: Server;
let base: string;
let dir: string;
let seen: IncomingMessage[] = [];
let authAnswer: Answer;
/** Answers given before authAnswer, one per request. */
let firstAnswers: Answer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsfleet-redis-auth-'));
  server = createServer((req, res) => {
    seen.push(req);
    const reply = ({ status, body }: Answer): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.url === '/metadata/instance/service-accounts/default/token') {
      if (req.headers['metadata-flavor'] !== 'Google') return reply({ status: 403, body: {} });
      return reply({ status: 200, body: { access_token: TOKEN, expires_in: 3599, token_type: 'Bearer' } });
    }
    if (req.url === `/redis/v1/${INSTANCE}/authString`) {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply({ status: 401, body: {} });
      return reply(firstAnswers.shift() ?? authAnswer);
    }
    reply({ status: 404, body: { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen = [];
  firstAnswers = [];
  authAnswer = { status: 200, body: { authString: 'b9f0c2a4-5d7e-4e3f-9a1b-2c3d4e5f6a7b' } };
});

function fetchInto(out: string, retryFor = 0): Promise<number> {
  return run([`--redis-instance=${INSTANCE}`, `--out=${out}`], {
    WSFLEET_METADATA_URL: `${base}/metadata`,
    WSFLEET_REDIS_API: `${base}/redis/v1`,
    WSFLEET_RETRY_FOR: String(retryFor),
  });
}

const DENIED: Answer = {
  status: 403,
  body: {
    error: {
      code: 403,
      message: "Permission 'redis.instances.getAuthString' denied",
      status: 'PERMISSION_DENIED',
    },
  },
};

describe('wsfleet app redis-auth', () => {
  it('writes the AUTH string as WSFLEET_REDIS_PASSWORD to a file only root reads', async () => {
    const out = join(dir, 'ok.env');
    expect(await fetchInto(out)).toBe(0);
    expect(await readFile(out, 'utf8')).toContain(
      '\nWSFLEET_REDIS_PASSWORD=b9f0c2a4-5d7e-4e3f-9a1b-2c3d4e5f6a7b\n',
    );
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(seen.map((r) => r.url)).toEqual([
      '/metadata/instance/service-accounts/default/token',
      `/redis/v1/${INSTANCE}/authString`,
    ]);
  });

  it.each([
    [
      'a refusal (the account lacks redis.instances.getAuthString)',
      {
        status: 403,
        body: {
          error: {
            code: 403,
            message: "Permission 'redis.instances.getAuthString' denied",
            status: 'PERMISSION_DENIED',
          },
        },
      },
      /HTTP 403 PERMISSION_DENIED \(the VM's account lacks redis.instances.getAuthString/,
    ],
    ['an instance without AUTH (an empty answer)', { status: 200, body: {} }, /AUTH is off/],
    [
      'a string an environment file cannot hold',
      { status: 200, body: { authString: 'a b"c' } },
      /cannot hold/,
    ],
    ['an answer that is not JSON', { status: 200, body: undefined }, /not JSON/],
  ])('fails with WSFLEET_REDIS_AUTH_UNAVAILABLE and writes nothing on %s', async (_name, answer, message) => {
    authAnswer = answer;
    const out = join(dir, 'refused.env');
    await expect(fetchInto(out)).rejects.toMatchObject({
      code: 'WSFLEET_REDIS_AUTH_UNAVAILABLE',
      message: expect.stringMatching(message),
    });
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('tries a refusal again while the grant may still be propagating, and writes the string once it passes', async () => {
    firstAnswers = [DENIED, { status: 503, body: {} }];
    const out = join(dir, 'late.env');
    expect(await fetchInto(out, 60)).toBe(0);
    expect(await readFile(out, 'utf8')).toContain(
      'WSFLEET_REDIS_PASSWORD=b9f0c2a4-5d7e-4e3f-9a1b-2c3d4e5f6a7b\n',
    );
    expect(seen.filter((r) => r.url?.endsWith('/authString'))).toHaveLength(3);
  });

  it('does not try again what will not pass (404), whatever its window', async () => {
    firstAnswers = [{ status: 404, body: { error: { code: 404, message: 'no', status: 'NOT_FOUND' } } }];
    await expect(fetchInto(join(dir, 'gone.env'), 60)).rejects.toMatchObject({
      message: expect.stringContaining('HTTP 404 NOT_FOUND (no such instance)'),
    });
    expect(seen.filter((r) => r.url?.endsWith('/authString'))).toHaveLength(1);
  });

  it('never quotes the string back in an error', async () => {
    authAnswer = { status: 200, body: { authString: 'secret with space' } };
    const err = await fetchInto(join(dir, 'x.env')).catch((e: unknown) => e);
    expect(String((err as Error).message)).not.toContain('secret');
  });
});
